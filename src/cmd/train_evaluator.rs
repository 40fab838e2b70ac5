//! `keta train evaluator`: our own text-motion evaluator (method.md section 8), trained
//! contrastively on a data folder's captions and motions; each checkpoint is an evaluator folder
//! that `keta eval --evaluator` loads.

use std::path::PathBuf;

use anyhow::Context;
use eval::training::{EvalBatch, EvaluatorRunConfig, EvaluatorTrainer};
use eval::{Evaluator, FeatureStats, VocabSource};
use motion::data::batch::BatchOptions;
use motion::data::dataset::Dataset;
use motion::training::BatchStream;
use serde_json::{json, Value};
use tch::Tensor;

use crate::cli::TrainArgs;
use crate::cmd::run_config;

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let device = super::device(args.device)?;
    let cfg: EvaluatorRunConfig = run_config::load(args)?;
    let resume = run_config::resume_point(args)?;
    let (train_set, val_set) =
        run_config::load_splits(&args.data, cfg.min_rows, cfg.max_rows, cfg.batch_size)?;
    let norm = &train_set.normalization;
    let vocab = eval::glove::WordVectors::load_default()
        .context("the evaluator's word vectors (scripts/setup.sh installs GloVe 6B 50d)")?;
    tch::manual_seed(cfg.seed as i64);
    let evaluator = Evaluator::new(
        cfg.model,
        FeatureStats {
            mean: norm.mean.clone(),
            std: norm.std.clone(),
        },
        VocabSource::glove_50d(),
        vocab,
        "keta",
        device,
    )?;
    let trainer = EvaluatorTrainer::new(evaluator, cfg.lr, cfg.grad_clip)?;
    let mut run = Run {
        trainer,
        batches: BatchStream::new(&train_set, batch_options(&cfg), 0, 0)?,
        val: val_set.as_ref(),
        cfg: cfg.clone(),
        out: args.out.clone(),
        mean: Tensor::from_slice(&norm.mean).to_device(device),
        std: Tensor::from_slice(&norm.std).to_device(device),
    };
    if let Some(ckpt) = &resume {
        let state = run.trainer.restore(ckpt)?;
        run.batches = run_config::resumed_stream(&train_set, batch_options(&cfg), &state)?;
    }
    run_config::record(args, &cfg)?;
    eprintln!(
        "keta: training the evaluator (our own, 50-d GloVe) on {} samples ({} validation) for {} steps, batch {}, on {}",
        train_set.samples.len(),
        val_set.as_ref().map_or(0, |d| d.samples.len()),
        cfg.steps,
        cfg.batch_size,
        if device.is_cuda() { "CUDA" } else { "the CPU" }
    );
    let done = run_config::drive(args, &cfg.cadence(), &mut run, "training the evaluator")?;
    eprintln!(
        "keta: evaluator trained to step {} in {:.1} s; use it with `keta eval --evaluator {}`",
        done.last_step,
        done.seconds,
        args.out.display()
    );
    Ok(())
}

fn batch_options(cfg: &EvaluatorRunConfig) -> BatchOptions {
    BatchOptions {
        batch_size: cfg.batch_size,
        max_rows: cfg.max_rows,
        seed: cfg.seed,
        ..BatchOptions::default()
    }
}

struct Run<'a> {
    trainer: EvaluatorTrainer,
    batches: BatchStream<'a>,
    val: Option<&'a Dataset>,
    cfg: EvaluatorRunConfig,
    out: PathBuf,
    /// The data's normalisation `[263]`: batches hold normalised rows, the evaluator takes raw.
    mean: Tensor,
    std: Tensor,
}

impl Run<'_> {
    /// A data batch as the evaluator takes it: raw features on its device.
    fn raw(&self, b: &motion::data::batch::Batch) -> (Tensor, Vec<usize>) {
        let feats = b.motions.to_device(self.mean.device()) * &self.std + &self.mean;
        // Crops are whole movement units already (BatchOptions::unit 4).
        (feats, b.lengths.iter().map(|&l| l as usize).collect())
    }
}

impl train::Trainee for Run<'_> {
    type Error = anyhow::Error;

    fn steps(&self) -> u64 {
        self.trainer.steps()
    }

    fn step(&mut self) -> anyhow::Result<Vec<(&'static str, Tensor)>> {
        let batch = self.batches.next_batch();
        let (feats, lengths) = self.raw(&batch);
        let input = EvalBatch {
            feats: &feats,
            lengths: &lengths,
            captions: &batch.captions,
        };
        Ok(vec![("loss", self.trainer.step(&input, self.cfg.seed)?)])
    }

    fn log_fields(&mut self) -> anyhow::Result<Value> {
        Ok(json!({"epoch": self.batches.epoch, "lr": self.cfg.lr}))
    }

    /// Loss and R-precision (top 1, top 3 among the batch's 32) on fixed validation batches.
    fn validate(&mut self) -> anyhow::Result<Option<Value>> {
        let Some(val) = self.val else {
            return Ok(None);
        };
        let opts = BatchOptions {
            batch_size: self.cfg.batch_size,
            max_rows: self.cfg.max_rows,
            seed: self.cfg.seed ^ 0x005E_ED0F_7A11,
            ..BatchOptions::default()
        };
        let (mut loss, mut top1, mut top3, mut n) = (0.0, 0.0, 0.0, 0.0);
        for (i, b) in val.batches(&opts, 0).take(self.cfg.val_batches).enumerate() {
            let (feats, lengths) = self.raw(&b);
            let input = EvalBatch {
                feats: &feats,
                lengths: &lengths,
                captions: &b.captions,
            };
            let shift =
                eval::training::shift_of_step(self.cfg.seed ^ 0xA11D, i as u64, b.captions.len());
            let s = self.trainer.score(&input, shift)?;
            (loss, top1, top3, n) = (loss + s.loss, top1 + s.top1, top3 + s.top3, n + 1.0);
        }
        Ok(Some(
            json!({"val_loss": loss / n, "val_top1": top1 / n, "val_top3": top3 / n}),
        ))
    }

    fn checkpoint(&mut self) -> anyhow::Result<PathBuf> {
        let state = run_config::stream_state(self.trainer.steps(), self.cfg.seed, &self.batches);
        let dir = self
            .trainer
            .save(&self.out, self.cfg.keep_checkpoints, &state)?;
        train::plot_log(&self.out, "evaluator contrastive loss")?;
        Ok(dir)
    }
}
