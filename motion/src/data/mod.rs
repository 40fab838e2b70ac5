//! The HumanML3D data layout: reading, checking, normalising and batching.

pub mod batch;
pub mod captions;
pub mod check;
pub mod dataset;
pub mod layout;
pub mod normalization;
pub mod writer;

pub use batch::{Batch, BatchOptions, Batches};
pub use captions::{CaptionLine, FPS};
pub use check::{check, CheckReport, Problem};
pub use dataset::{Dataset, LoadOptions, Sample};
pub use normalization::Normalization;

#[cfg(test)]
mod tests;
