//! `keta train mdm`: configuration, batches and caption embeddings, and the training loop.

mod condition;
mod config;
mod data;
mod kp_loss;
mod run;
mod step;
#[cfg(test)]
mod tests;

pub use condition::KetaCondition;
pub use config::{Precision, TrainConfig};
pub use data::{masked_mse, velocity_mse, BatchStream, CaptionTable, DeviceBatch};
pub use kp_loss::{KpAlignLoss, SubSentences};
pub use run::{step_seed, train_mdm, TrainJob, TrainSummary};
pub use step::{AuxLoss, ConditionHook, Hooks, StepLosses, Trainer};
