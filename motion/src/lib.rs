//! Motion for keta: the 22-joint skeleton, the 263-d HumanML3D features and their recovery to joints
//! (representation.md, a contract), `.npy` I/O, and the HumanML3D-layout data set reader.
//!
//! Shapes: joints `[..., T, 22, 3]` in metres (Y up, 20 fps); features `[..., T-1, 263]` raw rows.

pub mod checkpoint;
pub mod data;
pub mod diffusion;
mod error;
pub mod export;
pub mod features;
pub mod guide;
pub mod import;
mod mat3;
pub mod model;
pub mod npy;
pub mod rotation;
pub mod sample;
pub mod skeleton;
pub mod synth;
#[cfg(test)]
pub(crate) mod test_motion;
pub mod training;

pub use error::{Error, Result};
pub use features::{canonicalize, features_from_joints, joints_from_features, FEATURE_DIM};

/// libtorch's generator is one per process: tests that seed it or draw from it hold this lock so
/// that parallel test threads cannot interleave their draws.
#[cfg(test)]
pub(crate) fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
