//! The text-KP aligner (method.md sections 4-5): the temporal windows that assign each sub-sentence
//! a span of the motion's KP frames, and the aligner model (text branch, Gaussian-window motion
//! branch, alignment loss, guide vectors), its batch layout and its trainer. `keta train aligner`, the
//! auxiliary loss and refinement land with issue #7.

mod batch;
mod model;
mod training;
mod windows;

pub use batch::{LayoutError, WindowLayout};
pub use model::{gaussian_weights, Aligner, AlignerConfig, AlignerInput, Alignment, KP_DIM};
pub use training::{
    load_aligner, AlignerCard, AlignerOptim, AlignerRunConfig, AlignerTrainer, ALIGNER_FORMAT,
};

pub use windows::{temporal_windows, window_fraction};

/// libtorch's generator is one per process: tests that seed it hold this lock.
#[cfg(test)]
pub(crate) fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
