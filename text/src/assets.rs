//! Where downloaded assets live: `KETA_ASSETS`, else `<repo>/.assets` with the repo root from
//! `KETA_HOME` or this crate's build-time location, so keta finds them from any directory.

use std::path::PathBuf;

pub fn assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KETA_ASSETS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("KETA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    home.join(".assets")
}

/// The all-MiniLM-L6-v2 folder that `scripts/setup.sh` fills.
pub fn minilm_dir() -> PathBuf {
    assets_dir().join("all-minilm-l6-v2")
}
