//! The text-KP aligner (method.md sections 4-5): the temporal windows that assign each sub-sentence
//! a span of the motion's KP frames, and the aligner model (text branch, Gaussian-window motion
//! branch, alignment loss, guide vectors). Training and the auxiliary loss land with issue #7.

mod batch;
mod model;
mod windows;

pub use batch::{LayoutError, WindowLayout};
pub use model::{gaussian_weights, Aligner, AlignerConfig, AlignerInput, Alignment, KP_DIM};

pub use windows::{temporal_windows, window_fraction};
