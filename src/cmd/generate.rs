//! `keta generate`: prompts -> sub-sentences -> sentence embeddings -> guided diffusion sampling ->
//! features -> joints -> per-sample files (joints.npy, features.npy, motion.bvh, motion.gif,
//! summary.json).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use motion::checkpoint::MotionModel;
use motion::diffusion::SamplerKind;
use motion::model::Variant;
use motion::sample::{RefineFrom, SampleOptions};
use serde_json::json;
use tch::{Device, Tensor};
use text::SentenceEncoder;

use crate::cli::{
    BackendArg, DecomposeArg, FormatArg, GenerateArgs, PrecisionArg, RefineFromArg, SamplerArg,
};
use crate::cmd::decompose::Backend;
use crate::{paths, progress};

/// Longest prompt accepted, in characters (the sentence encoder truncates at 256 tokens anyway).
const MAX_TEXT_CHARS: usize = 1000;
/// Kinematic-phrase events `--explain` prints per sub-sentence window.
const EXPLAIN_EVENTS: usize = 12;
/// Most motions one command makes (prompts x --num).
const MAX_MOTIONS: usize = 1024;

/// One prompt with what the decomposition made of it.
pub(crate) struct Prompt {
    pub text: String,
    pub sentences: Vec<String>,
    /// Why the LLM decomposition failed, when the rules stood in.
    pub fallback: Option<String>,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let texts = read_prompts(&args)?;
    check_flags(&args, texts.len())?;
    let out = output_dir(&args, &texts[0])?;
    let device = super::device(args.device)?;

    // 1. Model and encoder.
    let model_dir = args.model.clone().unwrap_or_else(paths::default_model);
    let t = Instant::now();
    let variant = motion::checkpoint::resolve_model_dir(&model_dir)
        .and_then(|dir| motion::checkpoint::ModelCard::read(&dir.join("config.json")))
        .with_context(|| format!("cannot load the model at {}", model_dir.display()))?
        .model
        .variant;
    let attention = super::attention(args.attention, variant)?;
    let mut model = MotionModel::load(&model_dir, device, attention)
        .with_context(|| format!("cannot load the model at {}", model_dir.display()))?;
    if args.precision == PrecisionArg::Bf16 {
        model.vs.bfloat16();
    }
    let card = model.card.clone();
    if card.text_encoder != text::ENCODER_ID {
        bail!(
            "{}: trained on embeddings of {:?}, but keta's encoder is {:?}",
            model.dir.display(),
            card.text_encoder,
            text::ENCODER_ID
        );
    }
    if args.refine_rounds > 0
        && !(card.model.variant == Variant::Decoder && card.model.guide_tokens)
    {
        bail!(
            "--refine-rounds needs a KETA decoder model with guide tokens; {} is an {:?} model",
            model.dir.display(),
            card.model.variant
        );
    }
    if args.refine_from == RefineFromArg::X0 && !card.model.guide_tokens {
        eprintln!("keta: note: --refine-from only matters with guide tokens (KETA decoder models)");
    }
    let rows = if args.long {
        let rows = (args.seconds * card.motion.fps).round();
        if !(args.seconds.is_finite() && rows >= card.motion.min_rows as f64) {
            bail!(
                "--seconds {} is shorter than this model's {:.2} s",
                args.seconds,
                card.motion.min_rows as f64 / card.motion.fps
            );
        }
        rows as i64
    } else {
        card.motion.rows_for_seconds(args.seconds)?
    };
    if args.long && rows > card.motion.max_rows as i64 {
        model.allow_rows(rows)?;
        eprintln!(
            "keta: note: {rows} frames is {:.1}x the longest training motion ({}): extrapolating",
            rows as f64 / card.motion.max_rows as f64,
            card.motion.max_rows
        );
    }
    let encoder = SentenceEncoder::load_default(device)?;
    let load_s = t.elapsed().as_secs_f64();

    // 2. Decomposition (shown, stored; the encoder variant conditions on the caption alone).
    let prompts = decompose_texts(args.decompose, texts)?;
    for p in &prompts {
        eprintln!("keta: {:?} -> {}", p.text, p.sentences.join(" | "));
        if let Some(reason) = &p.fallback {
            eprintln!("keta: note: the LLM decomposition failed ({reason}); used the rules");
        }
    }

    // 3. Text embeddings, one row per motion.
    let t = Instant::now();
    let refs: Vec<&str> = prompts.iter().map(|p| p.text.as_str()).collect();
    let encoded = tch::no_grad(|| encoder.encode(&refs))?;
    for &i in &encoded.truncated {
        eprintln!(
            "keta: note: prompt {} was cut at the encoder's 256 tokens",
            i + 1
        );
    }
    let index: Vec<i64> = (0..prompts.len() as i64)
        .flat_map(|i| std::iter::repeat_n(i, args.num))
        .collect();
    let text = encoded
        .vectors
        .index_select(0, &Tensor::from_slice(&index).to_device(device));
    // Sub-sentences condition decoder models; with an aligner they also give the text-KP distance.
    let wants_sentences = card.model.variant == Variant::Decoder || model.guide.is_some();
    let sentences = if wants_sentences {
        let max = card.model.max_sentences as usize;
        let per_prompt = prompts
            .iter()
            .map(|p| {
                let parts = merge_tail(&p.sentences, max);
                if parts.len() < p.sentences.len() {
                    eprintln!(
                        "keta: note: {:?} has {} sub-sentences; this model takes {max}, so the last ones were merged",
                        p.text,
                        p.sentences.len()
                    );
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                Ok(tch::no_grad(|| encoder.encode(&refs))?.vectors)
            })
            .collect::<anyhow::Result<Vec<Tensor>>>()?;
        Some(
            index
                .iter()
                .map(|&i| per_prompt[i as usize].shallow_clone())
                .collect::<Vec<Tensor>>(),
        )
    } else {
        None
    };
    let encode_s = t.elapsed().as_secs_f64();

    // 4. Sampling.
    let opts = SampleOptions {
        rows,
        lengths: None,
        steps: args.steps,
        guidance: args.guidance,
        sampler: match args.sampler {
            SamplerArg::Ddpm => SamplerKind::Ddpm,
            SamplerArg::Ddim => SamplerKind::Ddim,
        },
        seed: args.seed,
        // Radial attention's sparse paths build layouts from host data and the fused kernel runs
        // on the legacy stream: neither belongs inside a graph capture, so `radial` runs eager.
        cuda_graph: args.attention != crate::cli::AttentionArg::Radial,
        refine_rounds: args.refine_rounds,
        refine_t: 0.5,
        refine_from: match args.refine_from {
            RefineFromArg::Xt => RefineFrom::Xt,
            RefineFromArg::X0 => RefineFrom::X0,
        },
    };
    eprintln!(
        "keta: sampling {} motion(s) of {:.2} s ({rows} frames) on {}: {} {:?} steps, guidance {}",
        index.len(),
        rows as f64 / card.motion.fps,
        if device.is_cuda() { "CUDA" } else { "the CPU" },
        opts.steps,
        opts.sampler,
        opts.guidance
    );
    let t = Instant::now();
    let bar = progress::bar(opts.steps as u64, "sampling");
    let sampled = model
        .sample(&text, sentences.as_deref(), &opts, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64)
        })
        .map_err(|e| oom_hint(e.into(), index.len()))?;
    let features = sampled.features;
    bar.finish_and_clear();
    let distances = &sampled.text_kp_distance;
    if !distances.is_empty() {
        let means: Vec<String> = distances
            .iter()
            .map(|round| format!("{:.4}", round.iter().sum::<f64>() / round.len() as f64))
            .collect();
        eprintln!(
            "keta: text-KP distance (mean over motions) after the walk{}: {}",
            if distances.len() > 1 {
                " and each refinement round"
            } else {
                ""
            },
            means.join(" -> ")
        );
    }
    let joints = motion::joints_from_features(&features)?; // [N, rows, 22, 3]
    if let Device::Cuda(i) = device {
        // The GPU's queue, not the host's, says when sampling is done.
        tch::Cuda::synchronize(i as i64);
    }
    let sample_s = t.elapsed().as_secs_f64();

    // 5. Files. With --force, samples of an earlier run go first, so the folder holds one run.
    let t = Instant::now();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    remove_old_samples(&out)?;
    let features = features.to_device(Device::Cpu);
    let joints = joints.to_device(Device::Cpu);
    let timings = json!({
        "load_s": load_s, "encode_s": encode_s, "sample_s": sample_s,
        "cuda_graph": sampled.cuda_graph,
    });
    for (k, &p) in index.iter().enumerate() {
        let prompt = &prompts[p as usize];
        let dir = out.join(format!("sample_{k}"));
        let j = joints.get(k as i64);
        let per_round: Vec<f64> = distances.iter().map(|round| round[k]).collect();
        write_sample(
            &dir,
            &args,
            &model,
            prompt,
            &j,
            &features.get(k as i64),
            k,
            &per_round,
            &timings,
        )?;
        if args.explain {
            explain(prompt, &j, card.motion.fps)?;
        }
    }
    eprintln!(
        "keta: wrote {} sample(s) to {} (load {load_s:.2} s, encode {encode_s:.2} s, sample {sample_s:.2} s, files {:.2} s, total {:.2} s)",
        index.len(),
        out.display(),
        t.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Removes `sample_<k>/` folders an earlier run left in `out` (other files stay).
fn remove_old_samples(out: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_sample = name
            .strip_prefix("sample_")
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|c| c.is_ascii_digit()));
        if is_sample && path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
    }
    Ok(())
}

fn read_prompts(args: &GenerateArgs) -> anyhow::Result<Vec<String>> {
    let prompts: Vec<String> = match (&args.text, &args.input) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("{}: cannot read prompts", file.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        (None, None) => unreachable!("clap requires --text or --input"),
    };
    if prompts.is_empty() {
        bail!("no prompt given: --input has no non-blank line");
    }
    for p in &prompts {
        if p.trim().is_empty() {
            bail!("--text is empty; describe the motion, e.g. --text \"a person walks forward\"");
        }
        if p.chars().count() > MAX_TEXT_CHARS {
            bail!(
                "prompt of {} characters is longer than {MAX_TEXT_CHARS}; shorten it",
                p.chars().count()
            );
        }
    }
    Ok(prompts)
}

fn check_flags(args: &GenerateArgs, prompts: usize) -> anyhow::Result<()> {
    if args.num == 0 {
        bail!("--num 0: ask for at least one motion per prompt");
    }
    if prompts * args.num > MAX_MOTIONS {
        bail!(
            "{prompts} prompt(s) x --num {} = {} motions; at most {MAX_MOTIONS} per command",
            args.num,
            prompts * args.num
        );
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!(
            "--seconds {} must be a positive number of seconds",
            args.seconds
        );
    }
    if args.steps == 0 || args.steps > motion::diffusion::TRAIN_STEPS {
        bail!(
            "--steps {} must be between 1 and {}",
            args.steps,
            motion::diffusion::TRAIN_STEPS
        );
    }
    if !(args.guidance.is_finite() && args.guidance >= 0.0) {
        bail!(
            "--guidance {} must be a number >= 0 (1 = no guidance)",
            args.guidance
        );
    }
    if args.format.is_empty() {
        bail!("--format is empty; choose from npy,bvh,gif");
    }
    Ok(())
}

/// `--out`, or `out/<YYYYmmdd-HHMMSS>-<slug>/`; an existing non-empty folder needs `--force`.
fn output_dir(args: &GenerateArgs, first: &str) -> anyhow::Result<PathBuf> {
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            let now = time::OffsetDateTime::now_utc();
            let stamp = format!(
                "{:04}{:02}{:02}-{:02}{:02}{:02}",
                now.year(),
                now.month() as u8,
                now.day(),
                now.hour(),
                now.minute(),
                now.second()
            );
            PathBuf::from("out").join(format!("{stamp}-{}", slug(first)))
        }
    };
    let non_empty = dir.is_dir()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some();
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} exists and is not a folder", dir.display());
    }
    if non_empty && !args.force {
        bail!(
            "--out {} is not empty; pass --force to replace its samples, or choose another folder",
            dir.display()
        );
    }
    Ok(dir)
}

/// "A man walks, then waves!" -> "a-man-walks-then-waves" (at most 40 characters).
fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut s = String::new();
    for w in words {
        if s.len() + w.len() + 1 > 40 {
            break;
        }
        if !s.is_empty() {
            s.push('-');
        }
        s.push_str(&w);
    }
    if s.is_empty() {
        "motion".into()
    } else {
        s
    }
}

/// Each text split into sub-sentences by `kind` (the LLM falls back to the rules per text).
pub(crate) fn decompose_texts(
    kind: DecomposeArg,
    texts: Vec<String>,
) -> anyhow::Result<Vec<Prompt>> {
    let backend = match kind {
        DecomposeArg::None => {
            return Ok(texts
                .into_iter()
                .map(|t| Prompt {
                    sentences: vec![t.clone()],
                    text: t,
                    fallback: None,
                })
                .collect())
        }
        DecomposeArg::Rules => Backend::new(BackendArg::Rules, None, None)?,
        DecomposeArg::Llm => {
            if std::env::var_os("KETA_LLM_ENDPOINT").is_none() {
                bail!(
                    "--decompose llm needs KETA_LLM_ENDPOINT (an OpenAI-compatible server, e.g. \
                     http://127.0.0.1:8080/v1; KETA_LLM_MODEL names the model)"
                );
            }
            Backend::new(BackendArg::Llm, None, None)?
        }
    };
    let outcomes = backend.decompose_many(&texts, 4, |_| {});
    Ok(texts
        .into_iter()
        .zip(outcomes)
        .map(|(text, o)| Prompt {
            text,
            sentences: o.sentences,
            fallback: o.fallback,
        })
        .collect())
}

/// CUDA out-of-memory gets a hint; everything else passes through.
fn oom_hint(e: anyhow::Error, motions: usize) -> anyhow::Error {
    if format!("{e:#}").contains("out of memory") {
        anyhow::anyhow!(
            "CUDA ran out of memory sampling {motions} motions at once: lower --num, use fewer prompts \
             per --input file, or --device cpu ({e:#})"
        )
    } else {
        e
    }
}

/// Writes one `sample_<k>/` through a temp folder and a rename.
#[allow(clippy::too_many_arguments)]
fn write_sample(
    dir: &Path,
    args: &GenerateArgs,
    model: &MotionModel,
    prompt: &Prompt,
    joints: &Tensor,
    features: &Tensor,
    k: usize,
    distances: &[f64],
    timings: &serde_json::Value,
) -> anyhow::Result<()> {
    let name = dir.file_name().expect("sample_<k>").to_string_lossy();
    let tmp = dir.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let fps = model.card.motion.fps;
    let frames = motion::export::frames_from_tensor(joints)?;
    let mut files = Vec::new();
    let mut formats = args.format.clone();
    formats.sort_by_key(|f| *f as u8);
    formats.dedup();
    for format in &formats {
        match format {
            FormatArg::Npy => {
                motion::npy::write_tensor(&tmp.join("joints.npy"), joints)?;
                motion::npy::write_tensor(&tmp.join("features.npy"), features)?;
                files.extend(["joints.npy", "features.npy"]);
            }
            FormatArg::Bvh => {
                motion::export::write_bvh(&frames, fps, &tmp.join("motion.bvh"))?;
                files.push("motion.bvh");
            }
            FormatArg::Gif => {
                motion::export::render_gif(&frames, fps, &tmp.join("motion.gif"))?;
                files.push("motion.gif");
            }
        }
    }
    let summary = json!({
        "text": prompt.text,
        "sub_sentences": prompt.sentences,
        "decomposition": format!("{:?}", args.decompose).to_lowercase(),
        "decomposition_fallback": prompt.fallback,
        "sample": k,
        "seed": args.seed,
        "seconds": joints.size()[0] as f64 / fps,
        "frames": joints.size()[0],
        "steps": args.steps,
        "sampler": format!("{:?}", args.sampler).to_lowercase(),
        "guidance": args.guidance,
        "model": model.dir.display().to_string(),
        "model_variant": format!("{:?}", model.card.model.variant).to_lowercase(),
        "refine_rounds": args.refine_rounds,
        "refine_from": format!("{:?}", args.refine_from).to_lowercase(),
        "precision": format!("{:?}", args.precision).to_lowercase(),
        "text_kp_distance_per_round": distances,
        "files": files,
        "timings": timings,
    });
    train::write_atomic(
        &tmp.join("summary.json"),
        format!("{}\n", serde_json::to_string_pretty(&summary)?).as_bytes(),
    )?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(())
}

/// Sub-sentences, their time windows and the kinematic-phrase events inside each.
fn explain(prompt: &Prompt, joints: &Tensor, fps: f64) -> anyhow::Result<()> {
    let frames = joints.size()[0] as usize;
    let raw = kp::raw(joints, None)?;
    let events = kp::describe::timeline(&raw, &kp::describe::ExplainConfig::default())?;
    let windows = aligner::temporal_windows(frames, prompt.sentences.len());
    println!("{}", prompt.text);
    for (sentence, w) in prompt.sentences.iter().zip(windows) {
        println!(
            "  [{:.2}-{:.2} s] {sentence}",
            w.start as f64 / fps,
            w.end as f64 / fps
        );
        let inside: Vec<_> = events
            .iter()
            .filter(|e| e.start < w.end && e.end > w.start)
            .collect();
        if inside.is_empty() {
            println!("      (no kinematic-phrase event)");
        }
        for e in inside.iter().take(EXPLAIN_EVENTS) {
            println!("      {}", e.line(fps));
        }
        if inside.len() > EXPLAIN_EVENTS {
            println!(
                "      ... and {} more (keta kp explain --joints <sample>/joints.npy lists all)",
                inside.len() - EXPLAIN_EVENTS
            );
        }
    }
    Ok(())
}

/// At most `max` sub-sentences: the tail beyond the model's slots is merged into the last one.
pub(crate) fn merge_tail(sentences: &[String], max: usize) -> Vec<String> {
    if sentences.len() <= max || max == 0 {
        return sentences.to_vec();
    }
    let mut parts = sentences[..max - 1].to_vec();
    parts.push(sentences[max - 1..].join(", then "));
    parts
}
