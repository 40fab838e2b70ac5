//! The denoiser's training loop, top-down as nanoGPT's `train.py`: batch -> noise -> denoise ->
//! masked x0 loss (+ lambda * an auxiliary loss) -> gradients -> clip -> AdamW -> EMA, with logs,
//! validation and atomic checkpoints on their own cadence.
//!
//! Repeatability: step s draws its noise, steps and dropout after `manual_seed(hash(seed, s))`, and
//! its batch is (epoch, position) of a seeded stream, so a resumed run replays the interrupted one
//! exactly on the CPU (and up to nondeterministic kernels on CUDA).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kernels::Attention;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{Device, Kind, Tensor};
use train::TrainLog;

use crate::checkpoint::copy_aligner;
use crate::checkpoint::{DiffusionConfig, ModelCard, MotionSpec, CARD_FORMAT};
use crate::data::batch::BatchOptions;
use crate::data::dataset::Dataset;
use crate::diffusion::{NoiseSchedule, TRAIN_STEPS};
use crate::error::{Error, Result};
use crate::model::Condition;
use crate::training::config::TrainConfig;
use crate::training::data::{masked_mse, BatchStream, CaptionTable, DeviceBatch, Loaded, Prefetch};
use crate::training::step::{AuxLoss, ConditionHook, Hooks, Trainer};

/// Everything one training run needs.
pub struct TrainJob<'a> {
    pub config: TrainConfig,
    pub out: PathBuf,
    pub device: Device,
    pub attention: Arc<dyn Attention>,
    pub train: &'a Dataset,
    pub val: Option<&'a Dataset>,
    pub captions: &'a CaptionTable,
    /// Id of the encoder that made `captions` (recorded in the model card).
    pub text_encoder: String,
    /// Continue from `out/latest`.
    pub resume: bool,
    /// `(lambda, loss)`: L = L_x0 + lambda * loss.
    pub aux: Option<(f64, &'a mut dyn AuxLoss)>,
    /// Sub-sentences and guide tokens (decoder variant), in training and validation.
    pub condition: Option<&'a dyn ConditionHook>,
    /// Soft-KP scales of the aligner behind `aux`, recorded in the model card.
    pub kp_tau: Option<Vec<f64>>,
    /// The aligner folder a model with guide tokens needs at inference: copied into every
    /// checkpoint as `aligner/`.
    pub aligner_dir: Option<PathBuf>,
    /// The ranks of a data-parallel run (None: this process alone). `config.batch_size` is the
    /// global batch; rank 0 alone logs, validates and checkpoints.
    pub group: Option<Arc<dyn train::Collective>>,
}

/// How a run ended.
#[derive(Debug)]
pub struct TrainSummary {
    pub first_step: u64,
    pub last_step: u64,
    pub last_checkpoint: PathBuf,
    /// Mean training loss of the last logging interval.
    pub final_loss: f64,
    pub seconds: f64,
}

/// `train_state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainState {
    step: u64,
    seed: u64,
    epoch: u64,
    position: u64,
    lr: f64,
    elapsed_s: f64,
}

/// Seed of step `step`'s randomness (splitmix64 of the pair).
pub fn step_seed(seed: u64, step: u64) -> i64 {
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Runs training to `config.steps`, writing checkpoints, `train_log.jsonl` and `loss.png` in `out`.
pub fn train_mdm(mut job: TrainJob, observer: &mut dyn train::Observer) -> Result<TrainSummary> {
    let cfg = job.config.clone();
    cfg.validate()?;
    if job.captions.dim() != cfg.model.text_dim {
        return Err(Error::Invalid(format!(
            "caption embeddings are {}-d, the model's text_dim is {}",
            job.captions.dim(),
            cfg.model.text_dim
        )));
    }
    let device = job.device;
    let mut trainer = Trainer::new(&cfg, device, &job.attention)?;
    let (rank, world) = job.group.as_ref().map_or((0, 1), |g| (g.rank(), g.world()));
    if cfg.batch_size % world != 0 {
        return Err(Error::Invalid(format!(
            "batch_size {} is the global batch of {world} GPUs: make it a multiple of {world}",
            cfg.batch_size
        )));
    }
    let batch_opts = BatchOptions {
        batch_size: cfg.batch_size,
        max_rows: cfg.max_rows,
        seed: cfg.seed,
        ..BatchOptions::default()
    };

    // 1. Fresh start or resume.
    let mut state = TrainState {
        step: 0,
        seed: cfg.seed,
        epoch: 0,
        position: 0,
        lr: cfg.lr.lr(0),
        elapsed_s: 0.0,
    };
    let mut last_checkpoint = PathBuf::new();
    if job.resume {
        let ckpt = train::latest_checkpoint(&job.out)?.ok_or_else(|| {
            Error::file(&job.out, "--resume: no `latest` checkpoint in this folder")
        })?;
        state = restore(&ckpt, &cfg, &mut trainer)?;
        last_checkpoint = ckpt;
    } else if train::latest_checkpoint(&job.out)?.is_some() {
        return Err(Error::file(
            &job.out,
            "already holds a training run: pass --resume to continue it, or choose a new --out",
        ));
    }
    if state.step >= cfg.steps {
        return Err(Error::Invalid(format!(
            "{} is at step {}; --steps {} leaves nothing to train (pass a larger --steps)",
            job.out.display(),
            state.step,
            cfg.steps
        )));
    }
    if let Some(group) = &job.group {
        // Same config and data on every rank, then rank 0's weights everywhere.
        let mut identity = serde_json::to_vec(&cfg).expect("config serialises");
        for s in &job.train.samples {
            identity.extend_from_slice(s.name.as_bytes());
        }
        identity.extend_from_slice(&state.step.to_le_bytes());
        train::check_same_config(group.as_ref(), train::fingerprint(&identity), device)?;
        trainer.distribute(group.clone())?;
    }
    // Checked before anything is written: a split too small for one batch is refused here.
    let stream = BatchStream::new(job.train, batch_opts, state.epoch, state.position)?;
    std::fs::create_dir_all(&job.out).map_err(|e| Error::file(&job.out, e.to_string()))?;
    let log_path = job.out.join("train_log.jsonl");
    let mut log = if rank == 0 {
        TrainLog::open(&log_path, job.resume.then_some(state.step))?
    } else {
        TrainLog::discard(&log_path)
    };
    let card = ModelCard {
        format: CARD_FORMAT,
        model: cfg.model.clone(),
        diffusion: DiffusionConfig::default(),
        text_encoder: job.text_encoder.clone(),
        motion: MotionSpec {
            fps: 20.0,
            min_rows: cfg.min_rows,
            max_rows: cfg.max_rows,
        },
        kp_tau: job.kp_tau.clone(),
        training: Some(serde_json::to_value(&cfg).expect("config serialises")),
    };
    let first_step = state.step;

    // 2. The loop (train::drive: step, then log / validate / checkpoint on their cadence).
    let cadence = cfg.cadence();
    let workers =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 4));
    let started = Instant::now();
    let finished = std::thread::scope(|scope| -> Result<train::Finished> {
        let mut run = MdmRun {
            loader: Prefetch::start(scope, stream, workers, (rank, world), device),
            job: &mut job,
            trainer: &mut trainer,
            card: &card,
            state: &mut state,
            started,
        };
        train::drive(&cadence, &mut run, &mut log, observer)
    })?;
    Ok(TrainSummary {
        first_step,
        last_step: finished.last_step,
        last_checkpoint: finished.last_checkpoint.unwrap_or(last_checkpoint),
        final_loss: finished.final_loss,
        seconds: finished.seconds,
    })
}

/// One denoiser run as the shared training loop sees it.
struct MdmRun<'a, 'j> {
    loader: Prefetch,
    job: &'a mut TrainJob<'j>,
    trainer: &'a mut Trainer,
    card: &'a ModelCard,
    state: &'a mut TrainState,
    started: Instant,
}

impl train::Trainee for MdmRun<'_, '_> {
    type Error = Error;

    fn steps(&self) -> u64 {
        self.state.step
    }

    fn step(&mut self) -> Result<Vec<(&'static str, Tensor)>> {
        // This rank's shard of the global batch, padded to the global batch's longest clip.
        let Loaded {
            batch,
            rows,
            epoch,
            position,
        } = self.loader.next()?;
        let cfg = &self.job.config;
        let b = DeviceBatch::with_rows(&batch, rows, self.job.captions, self.job.device)?;
        self.state.lr = cfg.lr.lr(self.state.step);
        let hooks = Hooks {
            batch: &batch,
            condition: self.job.condition,
            aux: self
                .job
                .aux
                .as_mut()
                .map(|(lambda, hook)| (*lambda, &mut **hook)),
        };
        let seed = step_seed(cfg.seed, self.state.step);
        let out = self.trainer.step(&b, seed, self.state.lr, Some(hooks))?;
        // What a checkpoint taken after this step records.
        (self.state.step, self.state.epoch, self.state.position) =
            (self.state.step + 1, epoch, position);
        let mut losses = vec![("loss", out.loss)];
        losses.extend(out.aux.map(|a| ("aux_loss", a)));
        Ok(losses)
    }

    fn log_fields(&mut self) -> Result<serde_json::Value> {
        Ok(json!({
            "lr": self.state.lr,
            "grad_norm": self.trainer.grad_norm.double_value(&[]),
            "epoch": self.state.epoch,
        }))
    }

    fn validate(&mut self) -> Result<Option<serde_json::Value>> {
        let Some(val) = self.job.val.filter(|_| self.rank() == 0) else {
            return Ok(None);
        };
        let v = validation_loss(self.trainer, val, self.job.captions, self.job.condition)?;
        Ok(Some(json!({ "val_loss": v })))
    }

    fn checkpoint(&mut self) -> Result<PathBuf> {
        self.state.elapsed_s += self.started.elapsed().as_secs_f64();
        self.started = Instant::now();
        if self.rank() != 0 {
            // Rank 0 writes it (the ranks hold the same weights).
            return Ok(self.job.out.join(format!("ckpt-{}", self.state.step)));
        }
        let dir = save(self.job, self.card, self.state, self.trainer)?;
        train::plot_log(&self.job.out, "denoiser x0 loss")?;
        Ok(dir)
    }

    fn world(&self) -> usize {
        self.trainer.group().world()
    }

    fn any_rank(&mut self, flag: bool) -> Result<bool> {
        let t = Tensor::from(flag as i64).to_device(self.job.device);
        self.trainer.group().all_reduce_max(&t)?;
        Ok(t.int64_value(&[]) != 0)
    }
}

impl MdmRun<'_, '_> {
    fn rank(&self) -> usize {
        self.trainer.group().rank()
    }
}

/// x0 loss of the EMA weights on fixed validation batches with fixed steps and noise.
fn validation_loss(
    trainer: &Trainer,
    val: &Dataset,
    captions: &CaptionTable,
    condition: Option<&dyn ConditionHook>,
) -> Result<f64> {
    let (models, ema, cfg, tables) = (
        &trainer.models,
        &trainer.ema,
        &trainer.cfg,
        trainer.tables(),
    );
    let flat = &models.master_flat;
    let saved = flat.flat().copy();
    flat.sync_from(ema.flat())?;
    let opts = BatchOptions {
        batch_size: cfg.batch_size,
        max_rows: cfg.max_rows,
        seed: cfg.seed ^ 0x005E_ED0F_7A11,
        drop_last: false,
        ..BatchOptions::default()
    };
    let result = tch::no_grad(|| -> Result<f64> {
        let mut total = 0.0;
        let mut count = 0usize;
        for (i, batch) in val.batches(&opts, 0).take(cfg.val_batches).enumerate() {
            tch::manual_seed(step_seed(cfg.seed ^ 0xA11D, i as u64));
            let b = DeviceBatch::new(&batch, captions, flat.device())?;
            let bsz = b.x0.size()[0];
            let t = Tensor::randint(TRAIN_STEPS as i64, [bsz], (Kind::Int64, flat.device()));
            let x_t = NoiseSchedule::q_sample(tables, &b.x0, &t, &b.x0.randn_like());
            let mut cond = Condition::caption(&b.text);
            if let Some(hook) = condition {
                cond = hook.extend(cond, &x_t, &batch)?;
            }
            let pred = models
                .master
                .forward(&x_t, &t, &cond, Some(&b.padding), false)?;
            total += masked_mse(&pred, &b.x0, &b.valid).double_value(&[]);
            count += 1;
        }
        Ok(if count == 0 {
            f64::NAN
        } else {
            total / count as f64
        })
    });
    flat.sync_from(&saved)?;
    result
}

/// Writes `out/ckpt-<step>/` (atomic) and returns its path.
fn save(
    job: &TrainJob,
    card: &ModelCard,
    state: &TrainState,
    trainer: &Trainer,
) -> Result<PathBuf> {
    let (flat, adamw, ema) = (&trainer.models.master_flat, &trainer.adamw, &trainer.ema);
    let normalization = &job.train.normalization;
    let path = train::save_checkpoint(&job.out, state.step, job.config.keep_checkpoints, |dir| {
        card.write(&dir.join("config.json"))
            .map_err(|e| train::Error::Invalid(e.to_string()))?;
        train::save_safetensors(&dir.join("weights.safetensors"), &flat.views(ema.flat())?)?;
        train::save_safetensors(
            &dir.join("train_weights.safetensors"),
            &flat.views(flat.flat())?,
        )?;
        train::save_safetensors(&dir.join("optimizer.safetensors"), &adamw.state(flat)?)?;
        normalization
            .write(dir)
            .map_err(|e| train::Error::Invalid(e.to_string()))?;
        if let Some(aligner) = &job.aligner_dir {
            copy_aligner(aligner, &dir.join(crate::checkpoint::ALIGNER_DIR))
                .map_err(|e| train::Error::Invalid(e.to_string()))?;
        }
        let json = serde_json::to_string_pretty(state).expect("state serialises");
        train::write_atomic(&dir.join("train_state.json"), json.as_bytes())
    })?;
    Ok(path)
}

/// Loads a checkpoint into the models, optimizer and EMA; refuses one made with another config.
fn restore(ckpt: &Path, cfg: &TrainConfig, trainer: &mut Trainer) -> Result<TrainState> {
    let card = ModelCard::read(&ckpt.join("config.json"))?;
    if let Some(saved) = &card.training {
        let mut now = serde_json::to_value(cfg).expect("config serialises");
        let mut was = saved.clone();
        // `steps` and the time limit may change on resume; everything else must match.
        for key in ["steps", "time_limit_minutes"] {
            now[key] = json!(null);
            was[key] = json!(null);
        }
        if now != was {
            let fields: Vec<String> = now
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| was.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.clone())
                .collect();
            return Err(Error::file(
                ckpt.join("config.json"),
                format!(
                    "--resume with a different training config (field(s): {}); drop the \
                     conflicting flags or --config",
                    fields.join(", ")
                ),
            ));
        }
    }
    let read = |name: &str| -> Result<Vec<(String, Tensor)>> {
        let path = ckpt.join(name);
        Tensor::read_safetensors(&path).map_err(|e| Error::file(&path, format!("cannot read: {e}")))
    };
    let flat = &trainer.models.master_flat;
    flat.copy_from_named(flat.flat(), &read("train_weights.safetensors")?)?;
    flat.copy_from_named(trainer.ema.flat(), &read("weights.safetensors")?)?;
    trainer
        .adamw
        .load_state(flat, &read("optimizer.safetensors")?)?;
    trainer.models.sync()?;
    let path = ckpt.join("train_state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::file(&path, e.to_string()))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| Error::file(&path, e.to_string()))?;
    if state.seed != cfg.seed {
        return Err(Error::file(
            &path,
            format!("seed {} != {}", state.seed, cfg.seed),
        ));
    }
    Ok(state)
}
