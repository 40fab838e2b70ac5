//! `keta train mdm`: configuration, batches and caption embeddings, and the training loop.

mod config;
mod data;
mod kp_loss;
mod run;
mod step;
#[cfg(test)]
mod tests;

pub use config::{Precision, TrainConfig};
pub use data::{masked_mse, velocity_mse, BatchStream, CaptionTable, DeviceBatch};
pub use kp_loss::{card_scales, soft_kp, soft_kp_raw, KpAlignLoss, SubSentences};
pub use run::{step_seed, train_mdm, TrainJob, TrainObserver, TrainSummary};
pub use step::{AuxLoss, StepLosses, Trainer};
