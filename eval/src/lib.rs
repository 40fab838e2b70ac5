//! Evaluation (method.md section 8).

mod error;
pub mod glove;
pub mod pos;
mod retrieval;

pub use error::{Error, Result};
pub use retrieval::{euclidean_distances, r_precision};
