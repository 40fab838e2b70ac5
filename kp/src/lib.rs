//! Kinematic phrases (kinematic-phrases.md). So far: the per-frame body axes every phrase is
//! projected on; the 392-phrase extractor builds on them.

mod axes;

pub use axes::{body_axes, BodyAxes};
