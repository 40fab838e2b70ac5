//! `keta train mdm`: configuration, batches and caption embeddings, and the training loop.

mod config;
mod data;
mod run;
mod step;
#[cfg(test)]
mod tests;

pub use config::{Precision, TrainConfig};
pub use data::{masked_mse, velocity_mse, BatchStream, CaptionTable, DeviceBatch};
pub use run::{step_seed, train_mdm, TrainJob, TrainObserver, TrainSummary};
pub use step::{AuxLoss, StepLosses, Trainer};
