//! Where keta finds its files: the repo root is `KETA_HOME`, else the folder this binary was built
//! from, so keta works from any directory.

use std::path::PathBuf;

pub fn home() -> PathBuf {
    std::env::var_os("KETA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The model `keta generate` uses when `--model` is not given.
pub fn default_model() -> PathBuf {
    home().join("models").join("default")
}
