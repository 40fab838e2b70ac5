//! `keta eval`: a model scored by the HumanML3D protocol on a data folder's test split, beside the
//! real test clips: R-precision, FID, MM-Dist, Diversity, MultiModality and KP accuracy over
//! seeded replications (mean and 95% interval), as JSON plus a Markdown table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use eval::protocol::{Conditioner, Progress, ProtocolOptions};
use eval::Evaluator;
use indicatif::ProgressBar;
use kernels::DenseAttention;
use motion::checkpoint::MotionModel;
use motion::data::dataset::{Dataset, LoadOptions};
use motion::diffusion::SamplerKind;
use motion::sample::{RefineFrom, SampleOptions};
use serde_json::json;
use tch::{Device, Tensor};
use text::SentenceEncoder;

use crate::cli::{DecomposeArg, EvalArgs, PrecisionArg, RefineFromArg, SamplerArg};
use crate::cmd::generate::{decompose_texts, merge_tail};
use crate::progress;

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if args.replications == 0 {
        bail!("--replications must be >= 1 (the protocol uses 20)");
    }
    if args.refine_rounds > 0 && args.steps == 0 {
        bail!("--steps must be >= 1");
    }
    let device = super::device(args.device)?;
    let mut model = MotionModel::load(&args.model, device, Arc::new(DenseAttention))
        .with_context(|| format!("cannot load the model at {}", args.model.display()))?;
    if model.card.text_encoder != text::ENCODER_ID {
        bail!(
            "{}: trained on {:?} embeddings, but keta's encoder is {:?}",
            model.dir.display(),
            model.card.text_encoder,
            text::ENCODER_ID
        );
    }
    if args.refine_rounds > 0 && !model.card.model.guide_tokens {
        bail!(
            "--refine-rounds needs a KETA decoder model with guide tokens; {} has none",
            model.dir.display()
        );
    }
    if args.precision == PrecisionArg::Bf16 {
        model.vs.bfloat16();
    }
    let evaluator = load_evaluator(&args.evaluator, device)?;
    if evaluator.origin() == "keta" {
        eprintln!(
            "keta: note: {} is our own evaluator (trained on our data, 50-d GloVe): numbers compare \
             between models scored with it, not with published HumanML3D tables",
            args.evaluator.display()
        );
    }
    let load = LoadOptions {
        min_rows: model.card.motion.min_rows.max(eval::UNIT_LENGTH),
        max_rows: 1_000_000,
    };
    let test = Dataset::load(&args.data, "test", &load, |_, _| {})
        .with_context(|| format!("the test split of {}", args.data.display()))?;
    let opts = ProtocolOptions {
        replications: args.replications,
        mm_replications: args.mm_replications.min(args.replications),
        max_motions: args.max_motions,
        kp_replications: args
            .kp_replications
            .unwrap_or(args.replications)
            .min(args.replications),
        chunk: args.chunk,
        sample: SampleOptions {
            steps: args.steps,
            guidance: args.guidance,
            sampler: match args.sampler {
                SamplerArg::Ddpm => SamplerKind::Ddpm,
                SamplerArg::Ddim => SamplerKind::Ddim,
            },
            refine_rounds: args.refine_rounds,
            refine_from: match args.refine_from {
                RefineFromArg::Xt => RefineFrom::Xt,
                RefineFromArg::X0 => RefineFrom::X0,
            },
            // Every call has new shapes, so a recorded graph would never replay; and each
            // capture keeps cuBLAS workspace in its private pool (an H100 evaluation ran out of
            // memory after ~160 captures). Batches of 256 gain little from graphs anyway.
            cuda_graph: false,
            ..SampleOptions::default()
        },
        seed: args.seed,
        ..ProtocolOptions::default()
    };
    eprintln!(
        "keta: evaluating {} on {} test clips of {} ({} replications, {} steps, {:?}, {:?} sampling on {})",
        model.dir.display(),
        test.samples.len(),
        args.data.display(),
        opts.replications,
        opts.sample.steps,
        args.decompose,
        args.precision,
        if device.is_cuda() { "CUDA" } else { "the CPU" }
    );
    let mut conditioner = TextConditioner {
        encoder: SentenceEncoder::load_default(device)?,
        decompose: args.decompose,
        max_sentences: model.card.model.max_sentences as usize,
        captions: HashMap::new(),
        sentences: HashMap::new(),
        fallbacks: 0,
    };
    let mut bars = Bars::new(opts.replications);
    let report = eval::protocol::evaluate(
        &model,
        &evaluator,
        &test,
        &mut conditioner,
        &opts,
        &mut bars,
    );
    bars.motions.finish_and_clear();
    bars.replications.finish_and_clear();
    let report = report?;
    let name = model.dir.display().to_string();
    let table = report.markdown(&name);
    println!("{table}");
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.model));
    let json = json!({
        "model": name,
        "data": args.data.display().to_string(),
        "split": "test",
        "evaluator_dir": args.evaluator.display().to_string(),
        "decomposition": format!("{:?}", args.decompose).to_lowercase(),
        "decomposition_fallbacks": conditioner.fallbacks,
        "precision": format!("{:?}", args.precision).to_lowercase(),
        "device": device_name(device),
        "report": report,
    });
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    train::write_atomic(
        &out,
        format!("{}\n", serde_json::to_string_pretty(&json)?).as_bytes(),
    )?;
    let md = out.with_extension("md");
    train::write_atomic(&md, table.as_bytes())?;
    eprintln!(
        "keta: evaluated in {:.1} s (generation {:.1} s, encoding and metrics {:.1} s, \
         MultiModality {:.1} s, KP accuracy {:.1} s); report {} and {}",
        report.timing.total_s,
        report.timing.generate_s,
        report.timing.encode_s,
        report.timing.multimodality_s,
        report.timing.kp_s,
        out.display(),
        md.display()
    );
    Ok(())
}

/// An evaluator folder, or a `keta train evaluator` output folder (its `latest`).
fn load_evaluator(dir: &Path, device: Device) -> anyhow::Result<Evaluator> {
    let dir = match train::latest_checkpoint(dir) {
        Ok(Some(ckpt)) if !dir.join(eval::folder::CARD_FILE).is_file() => ckpt,
        _ => dir.to_path_buf(),
    };
    Evaluator::load(&dir, device).with_context(|| {
        format!(
            "--evaluator {}: train one with `keta train evaluator --data DIR --out DIR`, or convert \
             the official one with scripts/convert_evaluator.py",
            dir.display()
        )
    })
}

fn default_out(model: &Path) -> PathBuf {
    let slug: String = model
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    PathBuf::from("out").join(format!("eval-{}.json", slug.trim_matches('-')))
}

fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => kernels::cuda::device_name(i).unwrap_or_else(|_| format!("cuda:{i}")),
        _ => "cpu".into(),
    }
}

/// Captions -> sentence embeddings (and decomposed, embedded sub-sentences), each made once.
struct TextConditioner {
    encoder: SentenceEncoder,
    decompose: DecomposeArg,
    max_sentences: usize,
    captions: HashMap<String, Tensor>,
    sentences: HashMap<String, Tensor>,
    /// Captions the LLM failed on (the rules stood in).
    fallbacks: usize,
}

impl TextConditioner {
    fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Tensor>> {
        let mut rows = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let v = tch::no_grad(|| self.encoder.encode(&refs))?.vectors;
            rows.extend((0..chunk.len() as i64).map(|i| v.get(i)));
        }
        Ok(rows)
    }

    fn fill(&mut self, captions: &[String], sentences: bool) -> anyhow::Result<()> {
        let mut missing: Vec<String> = captions
            .iter()
            .filter(|c| !self.captions.contains_key(*c))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        for (c, row) in missing.iter().zip(self.embed(&missing)?) {
            self.captions.insert(c.clone(), row);
        }
        if !sentences {
            return Ok(());
        }
        let mut missing: Vec<String> = captions
            .iter()
            .filter(|c| !self.sentences.contains_key(*c))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        for prompt in decompose_texts(self.decompose, missing)? {
            self.fallbacks += usize::from(prompt.fallback.is_some());
            let parts = merge_tail(&prompt.sentences, self.max_sentences);
            let rows = self.embed(&parts)?;
            self.sentences
                .insert(prompt.text.clone(), Tensor::stack(&rows, 0));
        }
        Ok(())
    }
}

impl Conditioner for TextConditioner {
    fn condition(
        &mut self,
        captions: &[String],
        sentences: bool,
        device: Device,
    ) -> eval::Result<(Tensor, Option<Vec<Tensor>>)> {
        self.fill(captions, sentences)
            .map_err(|e| eval::Error::Invalid(format!("{e:#}")))?;
        let text = Tensor::stack(
            &captions
                .iter()
                .map(|c| self.captions[c].shallow_clone())
                .collect::<Vec<_>>(),
            0,
        )
        .to_device(device);
        let subs = sentences.then(|| {
            captions
                .iter()
                .map(|c| self.sentences[c].to_device(device))
                .collect()
        });
        Ok((text, subs))
    }
}

/// Two bars: replications, and the motions of the current phase.
struct Bars {
    replications: ProgressBar,
    motions: ProgressBar,
}

impl Bars {
    fn new(replications: usize) -> Self {
        let multi = indicatif::MultiProgress::new();
        Self {
            replications: multi.add(progress::bar(replications as u64, "replications")),
            motions: multi.add(progress::bar(0, "generating")),
        }
    }
}

impl Progress for Bars {
    fn generated(&mut self, what: &str, done: usize, total: usize) {
        self.motions.set_length(total as u64);
        self.motions.set_position(done as u64);
        self.motions.set_message(format!("generating ({what})"));
    }

    fn replicated(&mut self, r: usize, _of: usize) {
        self.replications.set_position(r as u64);
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("keta: replication {r} done");
        }
    }
}
