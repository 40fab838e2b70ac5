//! Training the aligner on batches it is given (the caller turns motions into window KP and
//! sub-sentences into embeddings): flat parameters, our AdamW, and checkpoint folders in the layout
//! every keta trainer uses (`ckpt-<step>/` with `config.json`, `weights.safetensors`,
//! `optimizer.safetensors`, `train_state.json`; `latest`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};
use train::{AdamW, AdamWConfig, FlatParams, LrSchedule};

use crate::model::{Aligner, AlignerConfig, AlignerInput};

/// Version of an aligner folder's `config.json`.
pub const ALIGNER_FORMAT: u32 = 1;

/// `config.json` of an aligner folder: what consumers (the auxiliary loss, refinement) must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignerCard {
    pub format: u32,
    pub model: AlignerConfig,
    /// Id of the sentence encoder the embeddings came from.
    pub text_encoder: String,
    /// Soft-KP scales (tau per phrase type, in kp's order) the window KP was made with.
    pub kp_tau: Vec<f64>,
    /// Most sub-sentences per motion.
    pub max_sentences: usize,
}

/// Optimizer settings of aligner training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlignerOptim {
    pub lr: LrSchedule,
    pub optimizer: AdamWConfig,
    /// Clip the global gradient norm to this (0 disables).
    pub grad_clip: f64,
}

impl Default for AlignerOptim {
    fn default() -> Self {
        Self {
            lr: LrSchedule::default(),
            optimizer: AdamWConfig::default(),
            grad_clip: 1.0,
        }
    }
}

/// `keta train aligner`'s configuration (`--config FILE.json`; every default here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlignerRunConfig {
    pub model: AlignerConfig,
    pub optim: AlignerOptim,
    pub steps: u64,
    pub batch_size: usize,
    /// Most sub-sentences per motion; longer decompositions merge their tail into the last one.
    pub max_sentences: usize,
    pub seed: u64,
    /// Shortest and longest clips (feature rows) read; crops are <= max_rows.
    pub min_rows: usize,
    pub max_rows: usize,
    pub log_every: u64,
    pub val_every: u64,
    pub val_batches: usize,
    pub ckpt_every: u64,
    pub keep_checkpoints: usize,
    /// Stop (after a checkpoint) once this much wall time has passed in this process.
    pub time_limit_minutes: Option<f64>,
}

impl Default for AlignerRunConfig {
    fn default() -> Self {
        Self {
            model: AlignerConfig::reference(),
            optim: AlignerOptim::default(),
            steps: 20_000,
            batch_size: 64,
            max_sentences: 8,
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

impl AlignerRunConfig {
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
    pub fn validate(&self) -> train::Result<()> {
        let bad = |msg: &str| Err(train::Error::Invalid(format!("aligner config: {msg}")));
        self.optim.lr.validate()?;
        if self.steps == 0 || self.batch_size == 0 || self.max_sentences == 0 {
            return bad("steps, batch_size and max_sentences must be >= 1");
        }
        if self.min_rows < 2 || self.min_rows > self.max_rows {
            return bad("need 2 <= min_rows <= max_rows");
        }
        if self.log_every == 0 || self.val_every == 0 || self.ckpt_every == 0 {
            return bad("log_every, val_every and ckpt_every must be >= 1");
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints must be >= 1");
        }
        if self.model.d_model % self.model.heads != 0 {
            return bad("model.d_model must be a multiple of model.heads");
        }
        Ok(())
    }
}

/// The aligner with its optimizer state.
pub struct AlignerTrainer {
    pub card: AlignerCard,
    optim: AlignerOptim,
    /// Owns the aligner's variables (the flat buffer holds views of them).
    _vs: VarStore,
    pub aligner: Aligner,
    flat: FlatParams,
    adamw: AdamW,
}

impl AlignerTrainer {
    /// A fresh aligner on `device`, initialised from libtorch's generator (seed it first).
    pub fn new(card: AlignerCard, optim: AlignerOptim, device: Device) -> train::Result<Self> {
        optim.lr.validate()?;
        let vs = VarStore::new(device);
        let aligner = Aligner::new(vs.root(), &card.model);
        let flat = FlatParams::new(&vs)?;
        let adamw = AdamW::new(optim.optimizer, flat.numel(), device)?;
        Ok(Self {
            card,
            optim,
            _vs: vs,
            aligner,
            flat,
            adamw,
        })
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.adamw.step_count()
    }

    /// One step on a batch: alignment loss, flat gradients, clipping, AdamW at the schedule's LR.
    /// Returns the loss (detached, on the device: reading it syncs).
    pub fn step(&mut self, input: &AlignerInput) -> train::Result<Tensor> {
        let loss = self.aligner.forward(input).loss(input.slot_pad);
        let grad = self.flat.grads(&loss)?;
        if self.optim.grad_clip > 0.0 {
            let _norm = train::clip_grad_norm(&grad, self.optim.grad_clip)?;
        }
        let lr = self.optim.lr.lr(self.adamw.step_count());
        self.adamw.step(self.flat.flat(), &grad, lr)?;
        Ok(loss.detach())
    }

    /// Writes `out/ckpt-<step>/` (atomic) and returns it; `state` goes to `train_state.json`.
    pub fn save(
        &self,
        out: &Path,
        keep: usize,
        state: &serde_json::Value,
    ) -> train::Result<PathBuf> {
        train::save_checkpoint(out, self.steps(), keep, |dir| {
            train::save_json(&dir.join("config.json"), &self.card)?;
            train::save_safetensors(
                &dir.join("weights.safetensors"),
                &self.flat.views(self.flat.flat())?,
            )?;
            train::save_safetensors(
                &dir.join("optimizer.safetensors"),
                &self.adamw.state(&self.flat)?,
            )?;
            train::save_json(&dir.join("train_state.json"), state)
        })
    }

    /// Restores weights and optimizer state from a checkpoint folder written by [`Self::save`],
    /// refusing one whose card differs from ours (the mismatch named). Returns its train state.
    pub fn restore(&mut self, ckpt: &Path) -> train::Result<serde_json::Value> {
        let card: AlignerCard = train::read_json(&ckpt.join("config.json"))?;
        if card != self.card {
            return Err(train::Error::Invalid(format!(
                "{}: the checkpoint's aligner ({:?}, encoder {}, {} sentences) differs from this \
                 run's ({:?}, encoder {}, {} sentences)",
                ckpt.display(),
                card.model,
                card.text_encoder,
                card.max_sentences,
                self.card.model,
                self.card.text_encoder,
                self.card.max_sentences
            )));
        }
        let weights = train::read_safetensors(&ckpt.join("weights.safetensors"))?;
        self.flat.copy_from_named(self.flat.flat(), &weights)?;
        let state = train::read_safetensors(&ckpt.join("optimizer.safetensors"))?;
        self.adamw.load_state(&self.flat, &state)?;
        train::read_json(&ckpt.join("train_state.json"))
    }
}

/// A trained, frozen aligner loaded from a folder (its `config.json` and `weights.safetensors`).
pub fn load_aligner(dir: &Path, device: Device) -> train::Result<(AlignerCard, VarStore, Aligner)> {
    let dir = match train::latest_checkpoint(dir)? {
        Some(ckpt) if !dir.join("config.json").is_file() => ckpt,
        _ => dir.to_path_buf(),
    };
    let card: AlignerCard = train::read_json(&dir.join("config.json"))?;
    if card.format != ALIGNER_FORMAT {
        return Err(train::Error::Invalid(format!(
            "{}: aligner format {} (this keta reads {ALIGNER_FORMAT})",
            dir.display(),
            card.format
        )));
    }
    let mut vs = VarStore::new(device);
    let aligner = Aligner::new(vs.root(), &card.model);
    train::load_strict(&mut vs, &dir.join("weights.safetensors"), &[])?;
    vs.freeze();
    Ok((card, vs, aligner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn card() -> AlignerCard {
        AlignerCard {
            format: ALIGNER_FORMAT,
            model: AlignerConfig::tiny(),
            text_encoder: "test".into(),
            kp_tau: vec![1.0; 6],
            max_sentences: 4,
        }
    }

    /// Fixed batches: (sentences, slot_pad, window_kp, frame_pad).
    fn batches() -> Vec<[Tensor; 4]> {
        tch::manual_seed(4);
        (0..3)
            .map(|_| {
                [
                    Tensor::randn([4, 2, 384], (Kind::Float, Device::Cpu)),
                    Tensor::zeros([4, 2], (Kind::Bool, Device::Cpu)),
                    Tensor::randn([4, 2, 6, 392], (Kind::Float, Device::Cpu)).tanh(),
                    Tensor::zeros([4, 2, 6], (Kind::Bool, Device::Cpu)),
                ]
            })
            .collect()
    }

    fn run(t: &mut AlignerTrainer, data: &[[Tensor; 4]], steps: usize) -> Vec<f64> {
        (0..steps)
            .map(|_| {
                let [s, sp, kp, fp] = &data[(t.steps() as usize) % data.len()];
                let input = AlignerInput {
                    sentences: s,
                    slot_pad: sp,
                    window_kp: kp,
                    frame_pad: fp,
                };
                t.step(&input).unwrap().double_value(&[])
            })
            .collect()
    }

    #[test]
    fn resumes_exactly_and_loads_frozen() {
        let _rng = crate::global_rng();
        let data = batches();
        let dir = tempfile::tempdir().unwrap();
        tch::manual_seed(9);
        let mut whole = AlignerTrainer::new(card(), AlignerOptim::default(), Device::Cpu).unwrap();
        let all = run(&mut whole, &data, 8);
        assert!(all.iter().all(|l| l.is_finite()));

        tch::manual_seed(9);
        let mut first = AlignerTrainer::new(card(), AlignerOptim::default(), Device::Cpu).unwrap();
        let a = run(&mut first, &data, 4);
        let ckpt = first
            .save(dir.path(), 2, &serde_json::json!({"step": 4}))
            .unwrap();
        tch::manual_seed(123); // a different init: restore must overwrite it all
        let mut second = AlignerTrainer::new(card(), AlignerOptim::default(), Device::Cpu).unwrap();
        assert_eq!(second.restore(&ckpt).unwrap()["step"], 4);
        let b = run(&mut second, &data, 4);
        assert_eq!([a, b].concat(), all, "resume changed the loss curve");

        // A different card is refused, naming both.
        let other = AlignerCard {
            max_sentences: 8,
            ..card()
        };
        let mut third = AlignerTrainer::new(other, AlignerOptim::default(), Device::Cpu).unwrap();
        let e = third.restore(&ckpt).unwrap_err().to_string();
        assert!(
            e.contains("4 sentences") && e.contains("8 sentences"),
            "{e}"
        );

        // The folder (via `latest`) loads as a frozen aligner with the same outputs.
        let (loaded_card, _vs, frozen) = load_aligner(dir.path(), Device::Cpu).unwrap();
        assert_eq!(loaded_card, card());
        let [s, sp, kp, fp] = &data[0];
        let input = AlignerInput {
            sentences: s,
            slot_pad: sp,
            window_kp: kp,
            frame_pad: fp,
        };
        let x = frozen.forward(&input).loss(sp);
        let y = first.aligner.forward(&input).loss(sp);
        assert_eq!(x.double_value(&[]), y.double_value(&[]));
    }
}
