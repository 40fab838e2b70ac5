//! Motion for keta: the 22-joint skeleton, the 263-d HumanML3D features and their recovery to joints
//! (representation.md, a contract), `.npy` I/O, and the HumanML3D-layout data set reader.
//!
//! Shapes: joints `[..., T, 22, 3]` in metres (Y up, 20 fps); features `[..., T-1, 263]` raw rows.

pub mod data;
mod error;
pub mod export;
pub mod features;
pub mod import;
mod mat3;
pub mod npy;
pub mod rotation;
pub mod skeleton;
pub mod synth;
#[cfg(test)]
pub(crate) mod test_motion;

pub use error::{Error, Result};
pub use features::{canonicalize, features_from_joints, joints_from_features, FEATURE_DIM};
