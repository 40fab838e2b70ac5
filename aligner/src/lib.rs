//! The text-KP aligner (method.md sections 4-5). So far: the temporal windows that assign each
//! sub-sentence a span of the motion's KP frames.

mod windows;

pub use windows::{temporal_windows, window_fraction};
