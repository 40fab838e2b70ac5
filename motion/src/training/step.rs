//! One optimizer step of the denoiser, shared by the training loop and `keta bench train`:
//! noise -> denoise -> masked x0 loss (+ lambda * aux) -> flat gradients -> clip -> AdamW -> EMA.

use std::sync::{Arc, Mutex};

use kernels::Attention;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use train::{AdamW, Collective, Ema, FlatParams, Solo};

use crate::data::batch::Batch;
use crate::diffusion::{NoiseSchedule, TRAIN_STEPS};
use crate::error::Result;
use crate::model::{Condition, Denoiser};
use crate::training::config::{Precision, TrainConfig};
use crate::training::data::{masked_mse, velocity_mse, DeviceBatch};

/// What the decoder is conditioned on beyond the caption: the hook KETA's sub-sentences and guide
/// tokens plug into.
pub trait ConditionHook {
    /// `cond` (the caption condition of `batch`, with its drop mask) extended for the noised input
    /// `x_t [B, N, 263]`. Must not let gradients reach `x_t`.
    fn extend(&self, cond: Condition, x_t: &Tensor, batch: &Batch) -> Result<Condition>;
}

/// KETA's additions to a plain MDM step, for one batch.
pub struct Hooks<'a, 'h> {
    /// The host side of the batch (captions, lengths) the hooks read.
    pub batch: &'a Batch,
    pub condition: Option<&'a (dyn ConditionHook + 'h)>,
    /// `(lambda, loss)`: L = L_x0 + lambda * loss.
    pub aux: Option<(f64, &'a mut (dyn AuxLoss + 'h))>,
}

/// An extra loss on the predicted clean motion: the hook KETA's KP alignment loss plugs into.
pub trait AuxLoss {
    /// Name in logs.
    fn name(&self) -> &str;
    /// `x0_hat [B, N, 263]` (normalised, f32, part of the graph), `valid [B, N]` -> scalar loss.
    fn loss(&mut self, x0_hat: &Tensor, valid: &Tensor, batch: &Batch) -> Result<Tensor>;
}

/// The model twice when training in bf16: fp32 master (optimizer, EMA, validation, checkpoints)
/// and a bf16 working copy that runs forward and backward.
pub(crate) struct Models {
    _master_vs: VarStore,
    pub(crate) master: Denoiser,
    pub(crate) master_flat: FlatParams,
    work: Option<(VarStore, Denoiser, FlatParams)>,
}

impl Models {
    fn new(cfg: &TrainConfig, device: Device, attention: &Arc<dyn Attention>) -> Result<Self> {
        let master_vs = VarStore::new(device);
        let master = Denoiser::with_attention(master_vs.root(), &cfg.model, attention.clone())?;
        let master_flat = FlatParams::new(&master_vs)?;
        let bf16 = match cfg.precision {
            Precision::Auto => device.is_cuda(),
            Precision::Fp32 => false,
            Precision::Bf16 => true,
        };
        let work = if bf16 {
            let mut vs = VarStore::new(device);
            let model = Denoiser::with_attention(vs.root(), &cfg.model, attention.clone())?;
            vs.bfloat16();
            let flat = master_flat.mirror(&vs)?;
            Some((vs, model, flat))
        } else {
            None
        };
        Ok(Self {
            _master_vs: master_vs,
            master,
            master_flat,
            work,
        })
    }

    /// The model that trains and the flat parameters its gradients come from.
    fn working(&self) -> (&Denoiser, &FlatParams) {
        match &self.work {
            Some((_, model, flat)) => (model, flat),
            None => (&self.master, &self.master_flat),
        }
    }

    /// After an optimizer step: refresh the bf16 copy from the master (one cast-copy kernel).
    pub(crate) fn sync(&self) -> Result<()> {
        if let Some((_, _, flat)) = &self.work {
            flat.sync_from(self.master_flat.flat())?;
        }
        Ok(())
    }
}

/// What one step returns (detached, on the device: reading them syncs, so the loop batches that).
pub struct StepLosses {
    pub loss: Tensor,
    pub aux: Option<Tensor>,
}

/// libtorch has one random generator per device: ranks run as threads of one process (the CPU
/// tests of data parallelism) take turns seeding and drawing, so each draws what it would alone.
static GENERATOR: Mutex<()> = Mutex::new(());

/// Model, optimizer, EMA and noise tables of a training run.
pub struct Trainer {
    pub(crate) cfg: TrainConfig,
    pub(crate) models: Models,
    pub(crate) adamw: AdamW,
    pub(crate) ema: Ema,
    /// Update the EMA every step (the peer benchmark times training without it).
    pub ema_enabled: bool,
    tables: (Tensor, Tensor),
    /// Global gradient norm before clipping, of the last step.
    pub grad_norm: Tensor,
    /// The other ranks of a data-parallel run (alone: [`Solo`]).
    group: Arc<dyn Collective>,
}

impl Trainer {
    pub fn new(cfg: &TrainConfig, device: Device, attention: &Arc<dyn Attention>) -> Result<Self> {
        cfg.validate()?;
        // Initial weights are a function of the seed too.
        let models = {
            let _turn = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
            tch::manual_seed(crate::training::step_seed(cfg.seed, u64::MAX));
            Models::new(cfg, device, attention)?
        };
        let numel = models.master_flat.numel();
        let ema = Ema::new(models.master_flat.flat(), cfg.ema_decay)?;
        Ok(Self {
            cfg: cfg.clone(),
            adamw: AdamW::new(cfg.optimizer, numel, device)?,
            ema,
            ema_enabled: true,
            tables: NoiseSchedule::cosine(TRAIN_STEPS)?.noising_tables(device),
            grad_norm: Tensor::zeros([], (Kind::Float, device)),
            models,
            group: Arc::new(Solo),
        })
    }

    /// Makes this trainer one rank of `group`: rank 0's weights and EMA replace this rank's (so
    /// every rank starts identical, fresh or resumed), and from now on each step trains on this
    /// rank's shard of the global batch and averages gradients over the ranks.
    pub fn distribute(&mut self, group: Arc<dyn Collective>) -> Result<()> {
        group.broadcast(self.models.master_flat.flat(), 0)?;
        group.broadcast(self.ema.flat(), 0)?;
        self.models.sync()?;
        self.group = group;
        Ok(())
    }

    /// The ranks this trainer is one of.
    pub fn group(&self) -> &Arc<dyn Collective> {
        &self.group
    }

    /// Parameters of the denoiser.
    pub fn parameters(&self) -> i64 {
        self.models.master_flat.numel()
    }

    pub(crate) fn tables(&self) -> &(Tensor, Tensor) {
        &self.tables
    }

    /// Step `step` (0-based) on `b`: draws t, noise and the condition drop after
    /// `manual_seed(seed_of_step)`, updates the weights at learning rate `lr`. `hooks` (None: plain
    /// MDM) add KETA's condition and auxiliary loss.
    ///
    /// In a data-parallel run `b` is this rank's shard (`B / world` samples, the global batch's
    /// length): the draws are made for the global batch and cut to the shard, the gradient and the
    /// returned losses are averaged over the ranks, so N ranks compute what one process does with
    /// the global batch (with dropout 0; dropout masks are drawn per shard).
    pub fn step(
        &mut self,
        b: &DeviceBatch,
        seed_of_step: i64,
        lr: f64,
        hooks: Option<Hooks<'_, '_>>,
    ) -> Result<StepLosses> {
        let device = b.x0.device();
        let (rank, world) = (self.group.rank() as i64, self.group.world() as i64);
        let size = b.x0.size(); // [b, N, 263]
        let shard = |t: Tensor| t.narrow(0, rank * size[0], size[0]);
        let global = size[0] * world;
        let (t, noise, keep) = {
            let _turn = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
            tch::manual_seed(seed_of_step);
            let t = Tensor::randint(TRAIN_STEPS as i64, [global], (Kind::Int64, device));
            let noise = Tensor::randn([global, size[1], size[2]], (Kind::Float, device));
            let keep = Tensor::rand([global], (Kind::Float, device));
            (shard(t), shard(noise), shard(keep))
        };
        let x_t = NoiseSchedule::q_sample(&self.tables, &b.x0, &t, &noise);
        let keep = keep.ge(self.cfg.cond_drop).to_kind(Kind::Float);
        let mut cond = Condition {
            keep,
            ..Condition::caption(&b.text)
        };
        let (batch, condition, aux) = match hooks {
            Some(h) => (Some(h.batch), h.condition, h.aux),
            None => (None, None, None),
        };
        if let (Some(hook), Some(batch)) = (condition, batch) {
            cond = hook.extend(cond, &x_t, batch)?;
        }
        let (model, work_flat) = self.models.working();
        // Packing real tokens pays in fp32 (H100, reference size: 32 vs 42 ms a step) but not in
        // bf16 (16 vs 13 ms: the gathers and their atomic backward cost more than the skipped
        // matmuls), see docs/BENCHMARKS.md.
        let unpacked;
        let padding = if self.models.work.is_some() {
            unpacked = b.padding.without_packing();
            &unpacked
        } else {
            &b.padding
        };
        let pred = model
            .forward(&x_t, &t, &cond, Some(padding), true)?
            .to_kind(Kind::Float); // [B, N, 263]
        let x0_loss = masked_mse(&pred, &b.x0, &b.valid);
        // Terms summed out of place: `+=` on a tensor is in place, and `x0_loss` (logged) must not
        // change.
        let mut terms = vec![x0_loss.shallow_clone()];
        if self.cfg.velocity_loss > 0.0 {
            terms.push(velocity_mse(&pred, &b.x0, &b.valid) * self.cfg.velocity_loss);
        }
        let aux_loss = match aux.zip(batch) {
            Some(((lambda, hook), batch)) => {
                let extra = hook.loss(&pred, &b.valid, batch)?;
                terms.push(&extra * lambda);
                Some(extra.detach())
            }
            None => None,
        };
        let loss = Tensor::stack(&terms, 0).sum(Kind::Float);
        let grad = work_flat.grads(&loss)?;
        if world > 1 {
            self.group.all_reduce_mean(&grad)?;
        }
        if self.cfg.grad_clip > 0.0 {
            self.grad_norm = train::clip_grad_norm(&grad, self.cfg.grad_clip)?;
        }
        let flat = self.models.master_flat.flat();
        self.adamw.step(flat, &grad, lr)?;
        if self.ema_enabled {
            self.ema.update(flat, self.adamw.step_count() - 1)?;
        }
        self.models.sync()?;
        if world > 1 {
            // What one process would log: the global batch's losses.
            let mut parts = vec![x0_loss.detach()];
            parts.extend(aux_loss.iter().map(Tensor::shallow_clone));
            let losses = Tensor::stack(&parts, 0);
            self.group.all_reduce_mean(&losses)?;
            return Ok(StepLosses {
                loss: losses.get(0),
                aux: aux_loss.map(|_| losses.get(1)),
            });
        }
        Ok(StepLosses {
            loss: x0_loss.detach(),
            aux: aux_loss,
        })
    }
}
