//! Evaluation metrics (method.md section 8). So far: the pairwise distances and R-precision that
//! the text-to-motion tables are built from, as pure functions of embeddings.

mod retrieval;

pub use retrieval::{euclidean_distances, r_precision};
