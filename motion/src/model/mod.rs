//! The denoiser: configuration, transformer blocks and the model (encoder and decoder variants).

mod config;
mod denoiser;
mod layers;
mod padding;
#[cfg(test)]
mod tests;

pub use config::{DenoiserConfig, Variant};
pub use denoiser::{sinusoid, Condition, Denoiser, GUIDE_DIM};
pub use padding::Padding;
