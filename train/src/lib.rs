//! What every keta trainer shares. So far: atomic file writes (temp file, fsync, rename), which
//! checkpoints, caches and every output file use so that an interrupted write never leaves a
//! half-written file under the final name; and strict loading of safetensors weights.

mod atomic;
mod error;
mod weights;

pub use atomic::{write_atomic, write_atomic_with};
pub use error::{Error, Result};
pub use weights::load_strict;
