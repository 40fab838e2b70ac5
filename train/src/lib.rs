//! What every keta trainer shares:
//! - [`write_atomic`]: temp file, fsync, rename, which checkpoints, caches and every output file use
//!   so that an interrupted write never leaves a half-written file under the final name;
//! - [`load_strict`]: safetensors into a `VarStore`, every key and shape checked;
//! - [`LrSchedule`]: warm-up then constant or cosine, a pure function of the step;
//! - [`FlatParams`]: the trainable variables as views of one flat buffer (plus a bf16 mirror for
//!   mixed-precision training), with flat gradients and named views for saving;
//! - [`AdamW`] and [`clip_grad_norm`]: a few kernels a step over the flat buffer, state saved with
//!   the model's keys; [`Ema`]: one `lerp_` a step;
//! - [`save_checkpoint`] / [`latest_checkpoint`]: `OUT/ckpt-<step>/` folders published by rename,
//!   `OUT/latest`, pruning; atomic safetensors and JSON files;
//! - [`TrainLog`]: the JSONL log, cut back to the checkpoint on resume; [`loss_curve_png`];
//! - [`drive`]: the loop itself (step, log, validate, checkpoint on a [`Cadence`]; NaN stops it);
//! - [`Collective`]: the other ranks of a data-parallel run ([`Solo`], [`LocalGroup`] threads on
//!   the CPU, [`NcclGroup`] between GPUs), met through a [`Rendezvous`].
//!
//! A training step, fp32 master weights with an optional bf16 working copy:
//! ```text
//! g = work.grads(&loss)?;                  // flat fp32 [N]
//! clip_grad_norm(&g, max_norm)?;           // 0-d norm, no host sync
//! opt.step(master.flat(), &g, sched.lr(step))?;
//! ema.update(master.flat(), step)?;
//! work.sync_from(master.flat())?;          // one cast-copy
//! ```

mod adamw;
mod atomic;
mod checkpoint;
mod collective;
mod driver;
mod ema;
mod error;
mod flat;
mod log;
pub mod nccl;
mod plot;
mod rendezvous;
mod schedule;
mod weights;

pub use adamw::{clip_grad_norm, AdamW, AdamWConfig};
pub use atomic::{write_atomic, write_atomic_with};
pub use checkpoint::{
    latest_checkpoint, read_json, read_safetensors, save_checkpoint, save_json, save_safetensors,
    LATEST,
};
pub use collective::{check_same_config, fingerprint, Collective, LocalGroup, Solo};
pub use driver::{drive, Cadence, Finished, Observer, Trainee};
pub use ema::Ema;
pub use error::{Error, Result};
pub use flat::FlatParams;
pub use log::{read_records, TrainLog};
pub use nccl::NcclGroup;
pub use plot::{loss_curve_png, plot_log};
pub use rendezvous::Rendezvous;
pub use schedule::{LrSchedule, ScheduleKind};
pub use weights::load_strict;
