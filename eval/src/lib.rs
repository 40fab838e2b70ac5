//! Evaluation (method.md section 8).

mod encoders;
mod error;
mod evaluator;
mod folder;
pub mod glove;
mod gru;
pub mod metrics;
pub mod pos;
mod retrieval;

pub use error::{Error, Result};
pub use evaluator::{Evaluator, EvaluatorConfig, UNIT_LENGTH};
pub use folder::{
    EvaluatorCard, FeatureStats, VocabSource, CARD_FILE, FORMAT_VERSION, WEIGHTS_FILE,
};
pub use retrieval::{euclidean_distances, r_precision};
