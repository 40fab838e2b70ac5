//! Gaussian diffusion with x0 prediction (method.md section 2): the schedule and its respacing, the
//! sampling loop, and classifier-free guidance around a [`crate::model::Denoiser`].

mod guidance;
mod sampler;
mod schedule;

pub use guidance::Guided;
pub use sampler::{renoise, walk, SamplerKind, Walk};
pub use schedule::{KeptStep, NoiseSchedule, Respaced};

/// Diffusion steps in training (MDM's T).
pub const TRAIN_STEPS: usize = 1000;
