//! `keta train mdm`: data folder -> caption embeddings -> the denoiser's training loop, with a
//! progress bar, checkpoints and logs in `--out`.

use std::path::Path;

use anyhow::{bail, Context};
use motion::checkpoint::ModelCard;
use motion::data::dataset::{Dataset, LoadOptions};
use motion::guide::KpGuide;
use motion::model::Variant;
use motion::training::{
    train_mdm, CaptionTable, KetaCondition, KpAlignLoss, TrainConfig, TrainJob,
};
use tch::Device;

use crate::cli::{TrainArgs, TrainWhat};
use crate::progress;

/// Longest clip read from a data set, in rows (HumanML3D's loader keeps 40..200).
const MAX_CLIP_ROWS: usize = 200;

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    match args.what {
        TrainWhat::Mdm => mdm(args),
        TrainWhat::Aligner => {
            if args.lambda_kp.is_some() || args.aligner.is_some() || args.gpus > 1 {
                bail!("--lambda-kp, --aligner and --gpus apply to `keta train mdm`, not to the aligner");
            }
            super::train_aligner::run(&args)
        }
        TrainWhat::Evaluator => {
            if args.lambda_kp.is_some() || args.aligner.is_some() || args.gpus > 1 {
                bail!("--lambda-kp, --aligner and --gpus apply to `keta train mdm`, not to the evaluator");
            }
            super::train_evaluator::run(&args)
        }
    }
}

/// The configuration: `--config FILE`, else the checkpoint's on `--resume`, else the defaults;
/// `--steps` overrides the step count.
fn config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut cfg = match (&args.config, args.resume) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot read the config", file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a training config", file.display()))?
        }
        (None, true) => {
            let ckpt = train::latest_checkpoint(&args.out)?.with_context(|| {
                format!(
                    "--resume: {} has no `latest` checkpoint",
                    args.out.display()
                )
            })?;
            let card = ModelCard::read(&ckpt.join("config.json"))?;
            let saved = card
                .training
                .context("--resume: the checkpoint records no training config")?;
            serde_json::from_value(saved).context("--resume: the recorded training config")?
        }
        (None, false) => TrainConfig::default(),
    };
    if let Some(steps) = args.steps {
        cfg.steps = steps;
    }
    if let Some(lambda) = args.lambda_kp {
        cfg.lambda_kp = lambda;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn mdm(args: TrainArgs) -> anyhow::Result<()> {
    if args.rank.is_none() && (args.gpus > 1 || args.nodes > 1) {
        return super::launch::run(&args);
    }
    if args.rank.is_none() && args.rendezvous.is_some() {
        bail!("--rendezvous is for runs over several machines (--nodes M) or GPUs (--gpus N)");
    }
    // A rank started by the launcher sees its one GPU as cuda:0.
    let device = match args.rank {
        Some(_) if !tch::Cuda::is_available() => {
            bail!("--gpus: this rank sees no CUDA device (CUDA_VISIBLE_DEVICES?)")
        }
        Some(_) => {
            super::limit_cpu_threads(Device::Cuda(0));
            Device::Cuda(0)
        }
        None => super::device(args.device)?,
    };
    let cfg = config(&args)?;
    let guide_tokens = cfg.model.guide_tokens;
    let decoder = cfg.model.variant == Variant::Decoder;
    match (&args.aligner, cfg.lambda_kp > 0.0 || guide_tokens) {
        (None, true) => bail!(
            "{} needs --aligner DIR (a folder from `keta train aligner`)",
            if guide_tokens {
                "a decoder with guide tokens".to_string()
            } else {
                format!("lambda_kp {}", cfg.lambda_kp)
            }
        ),
        (Some(_), false) => bail!(
            "--aligner is used by --lambda-kp X > 0 (e.g. 0.001) or a decoder config with \
             guide_tokens; this run has neither"
        ),
        _ => {}
    }
    let (train_set, val_set) = load_data(&args.data, &cfg)?;
    let captions = embed_captions(
        &[&train_set, val_set.as_ref().unwrap_or(&train_set)],
        device,
    )?;
    let guide = match &args.aligner {
        Some(dir) => Some(
            KpGuide::load(
                dir,
                text::ENCODER_ID,
                cfg.model.text_dim,
                &train_set.normalization,
                device,
            )
            .with_context(|| format!("--aligner {}", dir.display()))?,
        ),
        None => None,
    };
    eprintln!(
        "keta: training the denoiser ({} layers, d {}, {:?}{}) on {} for {} steps, batch {}, into {}",
        cfg.model.layers,
        cfg.model.d_model,
        cfg.model.variant,
        if guide_tokens { " with guide tokens" } else { "" },
        device_name(device),
        cfg.steps,
        cfg.batch_size,
        args.out.display()
    );
    // Decoders read sub-sentences; the auxiliary loss reads them through the aligner's windows.
    let max_sentences = match &guide {
        _ if decoder => cfg.model.max_sentences as usize,
        Some(g) => g.card().max_sentences,
        None => 0,
    };
    let sub_sentences = if decoder || cfg.lambda_kp > 0.0 {
        let sets: Vec<&Dataset> = std::iter::once(&train_set)
            .chain(val_set.as_ref())
            .collect();
        Some(super::sub_sentences::build(&sets, max_sentences, device)?)
    } else {
        None
    };
    let mut kp_loss = match (&guide, &sub_sentences) {
        (Some(g), Some(subs)) if cfg.lambda_kp > 0.0 => {
            Some(KpAlignLoss::new(g, subs, max_sentences))
        }
        _ => None,
    };
    let condition = match &sub_sentences {
        Some(subs) if decoder => Some(KetaCondition {
            sentences: subs,
            max_sentences,
            guide: guide.as_ref().filter(|_| guide_tokens),
        }),
        _ => None,
    };
    let lambda = cfg.lambda_kp;
    let attention = super::attention(args.attention, cfg.model.variant)?;
    let group = join_ranks(&args, &cfg)?;
    let mut observer = progress::TrainProgress::new(cfg.steps, "training");
    let job = TrainJob {
        config: cfg,
        out: args.out.clone(),
        device,
        attention,
        train: &train_set,
        val: val_set.as_ref(),
        captions: &captions,
        text_encoder: text::ENCODER_ID.to_string(),
        resume: args.resume,
        aux: kp_loss
            .as_mut()
            .map(|l| (lambda, l as &mut dyn motion::training::AuxLoss)),
        condition: condition
            .as_ref()
            .map(|c| c as &dyn motion::training::ConditionHook),
        kp_tau: guide.as_ref().map(|g| g.card().kp_tau.clone()),
        aligner_dir: args.aligner.clone(),
        group,
    };
    let summary = train_mdm(job, &mut observer);
    observer.bar.finish_and_clear();
    let summary = summary.map_err(|e| {
        let text = e.to_string();
        if text.contains("out of memory") {
            anyhow::anyhow!(
                "CUDA ran out of memory: lower batch_size in the --config file (checkpoints so far are kept; \
                 --resume continues) ({})",
                text.lines().next().unwrap_or("")
            )
        } else {
            e.into()
        }
    })?;
    eprintln!(
        "keta: steps {}..{} in {:.1} s ({:.2} steps/s), last loss {:.4}; model: {}",
        summary.first_step,
        summary.last_step,
        summary.seconds,
        (summary.last_step - summary.first_step) as f64 / summary.seconds.max(1e-9),
        summary.final_loss,
        summary.last_checkpoint.display()
    );
    eprintln!(
        "keta: log {0}/train_log.jsonl, curve {0}/loss.png; generate with --model {0}",
        args.out.display()
    );
    Ok(())
}

/// A rank started by the launcher joins the others (NCCL); a lone process has no group.
fn join_ranks(
    args: &TrainArgs,
    cfg: &TrainConfig,
) -> anyhow::Result<Option<std::sync::Arc<dyn train::Collective>>> {
    let Some(rank) = args.rank else {
        return Ok(None);
    };
    let world = args.gpus * args.nodes;
    let spec = args
        .rendezvous
        .as_deref()
        .context("a rank needs --rendezvous (the launcher passes it)")?;
    let rendezvous = train::Rendezvous::parse(spec)?;
    // The rendezvous refuses ranks started with other flags; the run checks configs and data
    // again once NCCL is up.
    let mut identity = serde_json::to_vec(cfg)?;
    identity.extend(format!("{:?}{:?}{:?}", args.lambda_kp, args.attention, world).bytes());
    let timeout = std::time::Duration::from_secs(args.dist_timeout.max(1));
    let group = train::NcclGroup::join(
        rank,
        world,
        &rendezvous,
        train::fingerprint(&identity),
        timeout,
    )
    .with_context(|| format!("rank {rank} of {world}: joining the other ranks"))?;
    eprintln!("keta: rank {rank} of {world} joined (NCCL)");
    Ok(Some(std::sync::Arc::new(group)))
}

fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => kernels::cuda::device_name(i).unwrap_or_else(|_| format!("cuda:{i}")),
        _ => "the CPU".into(),
    }
}

/// The train split and, when it has samples, the val split.
fn load_data(dir: &Path, cfg: &TrainConfig) -> anyhow::Result<(Dataset, Option<Dataset>)> {
    let opts = LoadOptions {
        min_rows: cfg.min_rows,
        max_rows: MAX_CLIP_ROWS.max(cfg.max_rows + 1),
    };
    let bar = progress::bar(0, "loading motions");
    let load = |split: &str| {
        Dataset::load(dir, split, &opts, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
    };
    let train_set = load("train")?;
    let val_set = if dir.join("val.txt").is_file() {
        Some(load("val")?).filter(|d| !d.samples.is_empty())
    } else {
        None
    };
    bar.finish_and_clear();
    for note in &train_set.notes {
        eprintln!("keta: note: {note}");
    }
    eprintln!(
        "keta: {} training samples ({} clips skipped by length), {} validation samples",
        train_set.samples.len(),
        train_set.skipped_by_length,
        val_set.as_ref().map_or(0, |d| d.samples.len())
    );
    Ok((train_set, val_set))
}

/// Every caption of the sets through the sentence encoder, once.
fn embed_captions(sets: &[&Dataset], device: Device) -> anyhow::Result<CaptionTable> {
    let captions = CaptionTable::captions_of(sets);
    let count = captions.len();
    let table = super::sub_sentences::embed_all(captions, device, "embedding captions")?;
    eprintln!("keta: embedded {count} distinct captions");
    Ok(table)
}
