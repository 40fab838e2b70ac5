//! `keta train mdm`: data folder -> caption embeddings -> the denoiser's training loop, with a
//! progress bar, checkpoints and logs in `--out`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use kernels::DenseAttention;
use motion::checkpoint::ModelCard;
use motion::data::dataset::{Dataset, LoadOptions};
use motion::training::{
    train_mdm, CaptionTable, KpAlignLoss, TrainConfig, TrainJob, TrainObserver,
};
use tch::Device;

use crate::cli::{AttentionArg, TrainArgs, TrainWhat};
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
        TrainWhat::Evaluator => bail!(
            "`keta train evaluator` is not built yet (the evaluator is issue #8); `keta train mdm` works"
        ),
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
    if args.gpus > 1 || args.rendezvous.is_some() {
        bail!(
            "--gpus / --rendezvous: multi-GPU training is not built yet (issue #10); use one GPU"
        );
    }
    if args.attention == AttentionArg::Radial {
        bail!("--attention radial: the radial kernel is not built yet (issue #9); use dense");
    }
    let device = super::device(args.device)?;
    let cfg = config(&args)?;
    let aligner = match (&args.aligner, cfg.lambda_kp > 0.0) {
        (Some(dir), true) => {
            let (card, _vs, model) = aligner::load_aligner(dir, device)
                .with_context(|| format!("--aligner {}", dir.display()))?;
            if card.text_encoder != text::ENCODER_ID {
                bail!(
                    "--aligner {}: trained on {:?} embeddings, keta's encoder is {:?}",
                    dir.display(),
                    card.text_encoder,
                    text::ENCODER_ID
                );
            }
            motion::training::card_scales(&card)?;
            Some((card, _vs, model))
        }
        (None, true) => bail!(
            "lambda_kp {} needs --aligner DIR (a folder from `keta train aligner`)",
            cfg.lambda_kp
        ),
        (Some(_), false) => bail!("--aligner needs --lambda-kp X > 0 (e.g. 0.001)"),
        (None, false) => None,
    };
    let (train_set, val_set) = load_data(&args.data, &cfg)?;
    let captions = embed_captions(
        &[&train_set, val_set.as_ref().unwrap_or(&train_set)],
        device,
    )?;
    eprintln!(
        "keta: training the denoiser ({} layers, d {}, {:?}) on {} for {} steps, batch {}, into {}",
        cfg.model.layers,
        cfg.model.d_model,
        cfg.model.variant,
        device_name(device),
        cfg.steps,
        cfg.batch_size,
        args.out.display()
    );
    let sub_sentences = match &aligner {
        Some((card, _, _)) => Some(super::sub_sentences::build(
            &[&train_set],
            card.max_sentences,
            device,
        )?),
        None => None,
    };
    let mut kp_loss = match (&aligner, &sub_sentences) {
        (Some((card, _, model)), Some(subs)) => Some(KpAlignLoss::new(
            model,
            card,
            subs,
            &train_set.normalization,
        )?),
        _ => None,
    };
    let lambda = cfg.lambda_kp;
    let mut observer = Progress::new(cfg.steps);
    let job = TrainJob {
        config: cfg,
        out: args.out.clone(),
        device,
        attention: Arc::new(DenseAttention),
        train: &train_set,
        val: val_set.as_ref(),
        captions: &captions,
        text_encoder: text::ENCODER_ID.to_string(),
        resume: args.resume,
        aux: kp_loss
            .as_mut()
            .map(|l| (lambda, l as &mut dyn motion::training::AuxLoss)),
        kp_tau: aligner.as_ref().map(|(card, _, _)| card.kp_tau.clone()),
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

/// Progress bar over steps; log lines when stderr is not a terminal (CI, the GPU machine).
struct Progress {
    bar: ProgressBar,
    plain: bool,
}

impl Progress {
    fn new(steps: u64) -> Self {
        Self {
            bar: progress::bar(steps, "training"),
            plain: !std::io::stderr().is_terminal(),
        }
    }
}

impl TrainObserver for Progress {
    fn started(&mut self, first_step: u64, _total: u64) {
        self.bar.set_position(first_step);
        if first_step > 0 {
            eprintln!("keta: resuming at step {first_step}");
        }
    }

    fn stepped(&mut self, step: u64) {
        self.bar.set_position(step);
    }

    fn logged(&mut self, record: &serde_json::Value) {
        if let Some(loss) = record["loss"].as_f64() {
            self.bar.set_message(format!("training, loss {loss:.4}"));
        }
        if self.plain {
            eprintln!("keta: {record}");
        }
    }

    fn stopped_early(&mut self, step: u64, why: &str) {
        eprintln!("keta: stopped at step {step}: {why} (continue with --resume)");
    }

    fn checkpointed(&mut self, dir: &Path) {
        let line = format!("keta: checkpoint {}", dir.display());
        if self.plain {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}
