//! Kinematic phrases (kinematic-phrases.md, a contract): 392 signed per-frame facts about the body,
//! extracted from joints `[B, T, 22, 3]` (metres, Y up) as raw values, sign KP (-1/0/+1) or soft KP
//! (tanh, differentiable), with a readable sentence for every index.

pub mod accuracy;
mod axes;
pub mod describe;
mod error;
pub mod extract;
pub mod phrases;
pub mod plot;

pub use axes::{body_axes, BodyAxes};
pub use error::{Error, Result};
pub use extract::{extract, raw, sign, soft, Mode, SoftScales, DEAD_ZONE};
pub use phrases::{phrase_table, Axis, Phrase, PhraseKind, PhraseType, NUM_PHRASES};
