//! Paths and per-file readers of the HumanML3D folder layout (representation.md "Data folder").

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::features::FEATURE_DIM;
use crate::npy;

pub const FEATURES_DIR: &str = "new_joint_vecs";
pub const JOINTS_DIR: &str = "new_joints";
pub const TEXTS_DIR: &str = "texts";
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

pub fn features_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(FEATURES_DIR).join(format!("{id}.npy"))
}

pub fn joints_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(JOINTS_DIR).join(format!("{id}.npy"))
}

pub fn captions_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(TEXTS_DIR).join(format!("{id}.txt"))
}

/// Ids of a split file (`train.txt`, ...), one a line, blank lines ignored.
pub fn read_split(dir: &Path, split: &str) -> Result<Vec<String>> {
    let path = dir.join(format!("{split}.txt"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::file(
            &path,
            format!("missing or unreadable split file ({e}); expected motion ids, one a line"),
        )
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Feature rows of one motion as row-major f32 `[rows * 263]`, checked for shape and finiteness.
pub fn read_features(dir: &Path, id: &str) -> Result<(usize, Vec<f32>)> {
    let path = features_path(dir, id);
    let a = npy::read_f64(&path)?;
    if a.ndim() != 2 || a.shape()[1] != FEATURE_DIM || a.shape()[0] == 0 {
        return Err(Error::file(
            &path,
            format!("expected shape [rows, {FEATURE_DIM}], got {:?}", a.shape()),
        ));
    }
    if let Some(i) = a.iter().position(|v| !v.is_finite()) {
        return Err(Error::file(
            &path,
            format!(
                "non-finite value at row {}, dim {}",
                i / FEATURE_DIM,
                i % FEATURE_DIM
            ),
        ));
    }
    Ok((a.shape()[0], a.iter().map(|&v| v as f32).collect()))
}
