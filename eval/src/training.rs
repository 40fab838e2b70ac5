//! Training our own evaluator (method.md section 8; reference: text-to-motion's
//! `networks/trainers.py` `TextMotionMatchTrainer` and `ContrastiveLoss`): matched (caption, motion)
//! pairs are pulled together, pairs made by shifting the motions of the batch are pushed beyond a
//! margin of 10.
//!
//! Differences from the reference, all for simplicity or correctness:
//! - End to end: the reference freezes a movement encoder pre-trained as an autoencoder in a
//!   separate stage; here it trains with the rest (one stage, one command).
//! - One global gradient-norm clip at 0.5 instead of one per network; our AdamW with weight decay
//!   0 (= Adam, lr 1e-4 as the reference), so that resume restores the moments exactly.
//! - The shift is drawn from 1..B-1: the reference's `randint(0, B-1)` can draw 0, which makes
//!   every matched pair a "negative" for that step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use train::{AdamW, AdamWConfig, FlatParams};

use crate::error::{Error, Result};
use crate::evaluator::{Evaluator, EvaluatorConfig, UNIT_LENGTH};
use crate::pos::{evaluator_tokens, humanml3d_tokens, TokenSequence};

/// Margin of the hinge on shifted (negative) pairs.
pub const MARGIN: f64 = 10.0;

/// The reference's contrastive loss on one batch: `text`, `motion [B, E]` (row i matches row i),
/// negatives pair text i with motion (i + shift) mod B. Returns the scalar
/// mean_i d(t_i, m_i)^2 + mean_i max(margin - d(t_i, m_{i+shift}), 0)^2, with d the Euclidean
/// distance plus 1e-6 per coordinate as `F.pairwise_distance` computes it.
pub fn contrastive_loss(text: &Tensor, motion: &Tensor, shift: i64) -> Tensor {
    let b = motion.size()[0];
    let order = (Tensor::arange(b, (Kind::Int64, motion.device())) + shift).remainder(b);
    let shifted = motion.index_select(0, &order); // [B, E]
    let distance = |a: &Tensor, m: &Tensor| {
        (a - m + 1e-6)
            .square()
            .sum_dim_intlist(-1, false, Kind::Float)
            .sqrt()
    }; // [B]
    let positive = distance(text, motion).square().mean(Kind::Float);
    let negative = (-distance(text, &shifted) + MARGIN)
        .clamp_min(0.0)
        .square()
        .mean(Kind::Float);
    positive + negative
}

/// splitmix64 of (seed, step): the randomness of one step, so that a resumed run draws the same.
fn step_hash(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shift of step `step`'s negatives for a batch of `b`: 1..=b-1.
pub fn shift_of_step(seed: u64, step: u64, b: usize) -> i64 {
    1 + (step_hash(seed, step) % (b.max(2) as u64 - 1)) as i64
}

/// `keta train evaluator`'s configuration (`--config FILE.json`; every default here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluatorRunConfig {
    pub model: EvaluatorConfig,
    /// Adam's learning rate (the reference: 1e-4).
    pub lr: f64,
    /// Global gradient-norm clip (the reference clips each network at 0.5).
    pub grad_clip: f64,
    pub steps: u64,
    /// The reference trains on batches of 32 (also R-precision's batch).
    pub batch_size: usize,
    pub seed: u64,
    /// Clips of min_rows..=max_rows rows, randomly cropped to whole movement units.
    pub min_rows: usize,
    pub max_rows: usize,
    pub log_every: u64,
    pub val_every: u64,
    pub val_batches: usize,
    pub ckpt_every: u64,
    pub keep_checkpoints: usize,
    pub time_limit_minutes: Option<f64>,
}

impl Default for EvaluatorRunConfig {
    fn default() -> Self {
        Self {
            model: EvaluatorConfig::default(),
            lr: 1e-4,
            grad_clip: 0.5,
            steps: 20_000,
            batch_size: 32,
            seed: 0,
            min_rows: 40,
            max_rows: 196,
            log_every: 100,
            val_every: 1000,
            val_batches: 8,
            ckpt_every: 2000,
            keep_checkpoints: 2,
            time_limit_minutes: None,
        }
    }
}

impl EvaluatorRunConfig {
    /// Refuses values that cannot train, naming the field.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |msg: &str| Err(Error::Invalid(format!("evaluator config: {msg}")));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr must be > 0");
        }
        if self.steps == 0 || self.batch_size < 2 {
            return bad("steps must be >= 1 and batch_size >= 2 (negatives come from the batch)");
        }
        if self.min_rows < UNIT_LENGTH || self.min_rows > self.max_rows {
            return bad("need 4 <= min_rows <= max_rows");
        }
        if self.max_rows > self.model.max_motion_length {
            return bad("max_rows must not exceed model.max_motion_length");
        }
        if self.log_every == 0 || self.val_every == 0 || self.ckpt_every == 0 {
            return bad("log_every, val_every and ckpt_every must be >= 1");
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints must be >= 1");
        }
        Ok(())
    }

    /// The loop's cadence.
    pub fn cadence(&self) -> train::Cadence {
        train::Cadence {
            steps: self.steps,
            log_every: self.log_every,
            val_every: self.val_every,
            ckpt_every: self.ckpt_every,
            time_limit_minutes: self.time_limit_minutes,
        }
    }
}

/// One training batch: de-normalised motion features, their lengths and captions.
pub struct EvalBatch<'a> {
    /// `[B, T, F]` in real units (the evaluator normalises with its own Mean/Std).
    pub feats: &'a Tensor,
    /// Real frames per motion.
    pub lengths: &'a [usize],
    pub captions: &'a [String],
}

impl EvalBatch<'_> {
    fn tokens(&self) -> Vec<TokenSequence> {
        self.captions
            .iter()
            .map(|c| evaluator_tokens(&humanml3d_tokens(c)))
            .collect()
    }
}

/// What one step or one validation pass measures.
#[derive(Debug, Clone, Copy)]
pub struct MatchScores {
    pub loss: f64,
    /// R-precision top-1 and top-3 of the batch's captions against its motions.
    pub top1: f64,
    pub top3: f64,
}

/// An evaluator with its optimizer.
pub struct EvaluatorTrainer {
    pub evaluator: Evaluator,
    flat: FlatParams,
    adamw: AdamW,
    lr: f64,
    grad_clip: f64,
}

impl EvaluatorTrainer {
    /// `evaluator` freshly made by [`Evaluator::new`] (seed libtorch first for repeatable weights).
    pub fn new(evaluator: Evaluator, lr: f64, grad_clip: f64) -> Result<Self> {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::Invalid(format!("learning rate {lr} must be > 0")));
        }
        let flat = FlatParams::new(&evaluator.vs).map_err(train_err)?;
        let optim = AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        };
        let adamw = AdamW::new(optim, flat.numel(), evaluator.device()).map_err(train_err)?;
        Ok(Self {
            evaluator,
            flat,
            adamw,
            lr,
            grad_clip,
        })
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.adamw.step_count()
    }

    /// One step of a run seeded `seed`: negatives shifted by [`shift_of_step`], dropout drawn
    /// after seeding libtorch from (seed, step). Returns the loss (detached, on the device:
    /// reading it syncs).
    pub fn step(&mut self, batch: &EvalBatch, seed: u64) -> Result<Tensor> {
        let step = self.steps();
        let shift = shift_of_step(seed, step, batch.captions.len());
        tch::manual_seed((step_hash(seed ^ 0xD50F, step) >> 1) as i64);
        let text = self.evaluator.text_forward(&batch.tokens(), true)?; // [B, E]
        let motion = self
            .evaluator
            .motion_forward(batch.feats, batch.lengths, true)?; // [B, E]
        let loss = contrastive_loss(&text, &motion, shift);
        let grad = self.flat.grads(&loss).map_err(train_err)?;
        if self.grad_clip > 0.0 {
            let _norm = train::clip_grad_norm(&grad, self.grad_clip).map_err(train_err)?;
        }
        self.adamw
            .step(self.flat.flat(), &grad, self.lr)
            .map_err(train_err)?;
        Ok(loss.detach())
    }

    /// Loss and retrieval of a batch without training (dropout off, no gradients).
    pub fn score(&self, batch: &EvalBatch, shift: i64) -> Result<MatchScores> {
        tch::no_grad(|| {
            let text = self.evaluator.text_forward(&batch.tokens(), false)?;
            let motion = self
                .evaluator
                .motion_forward(batch.feats, batch.lengths, false)?;
            let loss = contrastive_loss(&text, &motion, shift).double_value(&[]);
            let r = crate::r_precision(&text, &motion, 3);
            Ok(MatchScores {
                loss,
                top1: r[0],
                top3: r[2],
            })
        })
    }

    /// Writes `out/ckpt-<step>/`: an evaluator folder (what `keta eval --evaluator` loads) plus
    /// `optimizer.safetensors` and `train_state.json` (`state`). Atomic; keeps the last `keep`.
    pub fn save(&self, out: &Path, keep: usize, state: &serde_json::Value) -> Result<PathBuf> {
        train::save_checkpoint(out, self.steps(), keep, |dir| {
            self.evaluator
                .save(dir)
                .map_err(|e| train::Error::Invalid(e.to_string()))?;
            train::save_safetensors(
                &dir.join("optimizer.safetensors"),
                &self.adamw.state(&self.flat)?,
            )?;
            train::save_json(&dir.join("train_state.json"), state)
        })
        .map_err(train_err)
    }

    /// Restores weights and optimizer state from a folder [`Self::save`] wrote, refusing one made
    /// with another configuration. Returns its train state.
    pub fn restore(&mut self, ckpt: &Path) -> Result<serde_json::Value> {
        let card: crate::EvaluatorCard =
            crate::folder::read_json(&ckpt.join(crate::folder::CARD_FILE))?;
        if card.config != *self.evaluator.config() {
            return Err(Error::Invalid(format!(
                "{}: the checkpoint's evaluator config {:?} differs from this run's {:?}",
                ckpt.display(),
                card.config,
                self.evaluator.config()
            )));
        }
        let weights =
            train::read_safetensors(&ckpt.join(crate::folder::WEIGHTS_FILE)).map_err(train_err)?;
        self.flat
            .copy_from_named(self.flat.flat(), &weights)
            .map_err(train_err)?;
        let state =
            train::read_safetensors(&ckpt.join("optimizer.safetensors")).map_err(train_err)?;
        self.adamw
            .load_state(&self.flat, &state)
            .map_err(train_err)?;
        train::read_json(&ckpt.join("train_state.json")).map_err(train_err)
    }
}

fn train_err(e: train::Error) -> Error {
    Error::Invalid(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::tests::{tiny_evaluator, write_vocab};
    use tch::Device;

    /// The loss against a direct computation on a 3-row batch.
    #[test]
    fn contrastive_loss_matches_the_reference_formula() {
        let text = Tensor::from_slice(&[0.0f32, 0.0, 3.0, 4.0, 1.0, 1.0]).view([3, 2]);
        let motion = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 0.0, 1.0, 1.0]).view([3, 2]);
        let got = contrastive_loss(&text, &motion, 1).double_value(&[]);
        let e = 1e-6f64;
        let d = |a: [f64; 2], b: [f64; 2]| {
            ((a[0] - b[0] + e).powi(2) + (a[1] - b[1] + e).powi(2)).sqrt()
        };
        let (t, m) = (
            [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]],
            [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]],
        );
        let pos: f64 = (0..3).map(|i| d(t[i], m[i]).powi(2)).sum::<f64>() / 3.0;
        let neg: f64 = (0..3)
            .map(|i| (MARGIN - d(t[i], m[(i + 1) % 3])).max(0.0).powi(2))
            .sum::<f64>()
            / 3.0;
        assert!((got - (pos + neg)).abs() < 1e-4, "{got} vs {}", pos + neg);
    }

    #[test]
    fn shifts_never_pair_a_caption_with_its_own_motion() {
        for step in 0..500 {
            let s = shift_of_step(7, step, 32);
            assert!((1..32).contains(&s), "{s}");
        }
        assert_eq!(shift_of_step(7, 3, 32), shift_of_step(7, 3, 32));
    }

    /// A tiny evaluator learns to match 8 fixed pairs, and a restored trainer continues exactly.
    #[test]
    fn training_separates_pairs_and_resumes_exactly() {
        tch::manual_seed(0);
        let feats = Tensor::randn([8, 24, 10], (Kind::Float, Device::Cpu));
        let lengths = vec![24, 20, 16, 12, 24, 8, 4, 16];
        let captions: Vec<String> = [
            "a person walks forward",
            "someone jumps up and down",
            "a man waves with the left hand",
            "the person sits down",
            "a person runs in a circle",
            "someone kicks with the right foot",
            "a man claps his hands",
            "the person turns around",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let batch = EvalBatch {
            feats: &feats,
            lengths: &lengths,
            captions: &captions,
        };
        let dir = tempfile::tempdir().unwrap();
        let vocab = dir.path().join("vocab");
        let evaluator = || {
            let mut ev = tiny_evaluator();
            write_vocab(&vocab, ev.word_vectors());
            ev.vocab_source = crate::VocabSource::Folder(vocab.clone());
            ev
        };
        let mut trainer = EvaluatorTrainer::new(evaluator(), 1e-2, 0.5).unwrap();
        let before = trainer.score(&batch, 1).unwrap();
        for _ in 0..120 {
            let _ = trainer.step(&batch, 0).unwrap();
        }
        let after = trainer.score(&batch, 1).unwrap();
        assert!(after.loss < 0.5 * before.loss, "{before:?} -> {after:?}");
        assert!(after.top1 > before.top1, "{before:?} -> {after:?}");

        let out = dir.path().join("run");
        let ckpt = trainer
            .save(&out, 2, &serde_json::json!({"step": 120}))
            .unwrap();
        assert!(
            Evaluator::load(&ckpt, Device::Cpu).is_ok(),
            "a checkpoint is an evaluator folder"
        );
        let mut resumed = EvaluatorTrainer::new(evaluator(), 1e-2, 0.5).unwrap();
        assert_eq!(resumed.restore(&ckpt).unwrap()["step"], 120);
        for step in 120..123 {
            let a = trainer.step(&batch, 0).unwrap();
            let b = resumed.step(&batch, 0).unwrap();
            assert_eq!(a.double_value(&[]), b.double_value(&[]), "step {step}");
        }
    }
}
