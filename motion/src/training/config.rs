//! `keta train mdm`'s configuration: every default in one place, readable from `--config FILE.json`.

use serde::{Deserialize, Serialize};
use train::{AdamWConfig, LrSchedule};

use crate::error::{Error, Result};
use crate::model::DenoiserConfig;

/// Arithmetic of the weights and activations in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on CUDA, fp32 on the CPU.
    #[default]
    Auto,
    Fp32,
    /// bf16 weights and activations in the forward and backward passes, fp32 master weights,
    /// optimizer, EMA, softmax, layer-norm statistics and loss (explicit casts, not autocast: tch's
    /// autocast is fp16).
    Bf16,
}

/// Training hyper-parameters; the defaults are MDM's where MDM has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: DenoiserConfig,
    /// Optimizer steps in all (a resumed run continues up to this).
    pub steps: u64,
    pub batch_size: usize,
    pub lr: LrSchedule,
    pub optimizer: AdamWConfig,
    /// EMA decay of the weights that are saved for generation.
    pub ema_decay: f64,
    /// Clip the global gradient norm to this (0 disables).
    pub grad_clip: f64,
    /// Probability of dropping the text (classifier-free guidance).
    pub cond_drop: f64,
    /// Weight of MDM's velocity loss (lambda_vel): MSE between frame-to-frame differences of the
    /// predicted and true x0, over pairs of real frames. MDM's HumanML3D default is 0.
    pub velocity_loss: f64,
    /// Weight of KETA's auxiliary KP alignment loss (needs a trained aligner; 0 = plain MDM).
    /// The paper says 1e-4, the released run used 1e-3.
    pub lambda_kp: f64,
    pub precision: Precision,
    pub seed: u64,
    /// Shortest and longest clips (feature rows) read from the data set; crops are <= max_rows.
    pub min_rows: usize,
    pub max_rows: usize,
    /// Report the training loss every this many steps.
    pub log_every: u64,
    /// Validation loss (EMA weights, fixed batches and noise) every this many steps.
    pub val_every: u64,
    pub val_batches: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub ckpt_every: u64,
    /// Checkpoint folders kept.
    pub keep_checkpoints: usize,
    /// Stop (with a checkpoint) after this many minutes of this run, even before `steps`; a
    /// `--resume` continues from there. None: no limit.
    pub time_limit_minutes: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: DenoiserConfig::mdm(),
            steps: 50_000,
            batch_size: 64,
            lr: LrSchedule::default(),
            optimizer: AdamWConfig::default(),
            ema_decay: 0.9999,
            grad_clip: 1.0,
            cond_drop: 0.1,
            velocity_loss: 0.0,
            lambda_kp: 0.0,
            precision: Precision::Auto,
            seed: 0,
            min_rows: 40,
            max_rows: 196,
            log_every: 50,
            val_every: 1000,
            val_batches: 4,
            ckpt_every: 5000,
            keep_checkpoints: 3,
            time_limit_minutes: None,
        }
    }
}

impl TrainConfig {
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

    /// Refuses values that cannot train, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(format!("training config: {msg}")));
        self.model.validate()?;
        self.lr.validate()?;
        if self.steps == 0 || self.batch_size == 0 {
            return bad("steps and batch_size must be >= 1".into());
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad(format!(
                "ema_decay must be in [0, 1), got {}",
                self.ema_decay
            ));
        }
        if !(0.0..1.0).contains(&self.cond_drop) {
            return bad(format!(
                "cond_drop must be in [0, 1), got {}",
                self.cond_drop
            ));
        }
        if !self.velocity_loss.is_finite() || self.velocity_loss < 0.0 {
            return bad(format!(
                "velocity_loss must be >= 0, got {}",
                self.velocity_loss
            ));
        }
        if !self.lambda_kp.is_finite() || self.lambda_kp < 0.0 {
            return bad(format!("lambda_kp must be >= 0, got {}", self.lambda_kp));
        }
        if self.grad_clip.is_nan() || self.grad_clip < 0.0 {
            return bad(format!("grad_clip must be >= 0, got {}", self.grad_clip));
        }
        if self.min_rows < 1 || self.min_rows > self.max_rows {
            return bad(format!(
                "need 1 <= min_rows ({}) <= max_rows ({})",
                self.min_rows, self.max_rows
            ));
        }
        if self.max_rows as i64 > self.model.max_frames {
            return bad(format!(
                "max_rows {} exceeds the model's max_frames {}",
                self.max_rows, self.model.max_frames
            ));
        }
        if self.log_every == 0 || self.val_every == 0 || self.ckpt_every == 0 {
            return bad("log_every, val_every and ckpt_every must be >= 1".into());
        }
        if let Some(m) = self.time_limit_minutes {
            if !(m.is_finite() && m > 0.0) {
                return bad(format!("time_limit_minutes must be > 0, got {m}"));
            }
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints must be >= 1".into());
        }
        Ok(())
    }

    /// The config for a tiny CPU run (tests, demos): tiny model, short clips.
    pub fn tiny() -> Self {
        Self {
            model: DenoiserConfig::tiny(),
            steps: 20,
            batch_size: 4,
            max_rows: 64,
            min_rows: 16,
            log_every: 5,
            val_every: 10,
            val_batches: 1,
            ckpt_every: 10,
            ..Self::default()
        }
    }
}
