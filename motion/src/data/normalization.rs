//! `Mean.npy` / `Std.npy`: per-dimension z-normalisation of feature rows (representation.md).

use std::path::Path;

use ndarray::ArrayD;

use crate::data::layout::{read_features, read_split};
use crate::error::{Error, Result};
use crate::features::{dims::STD_GROUPS, FEATURE_DIM};
use crate::npy;

/// Smallest standard deviation a group may have after averaging.
pub const STD_FLOOR: f64 = 1e-2;

/// Mean and standard deviation per feature dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// The data set's own `Mean.npy` / `Std.npy` when both exist (used as they are), else computed from
    /// the train split without writing anything. Notes (e.g. a floored group) go to `notes`.
    pub fn for_data_dir(dir: &Path, notes: &mut Vec<String>) -> Result<Self> {
        if dir.join("Mean.npy").exists() && dir.join("Std.npy").exists() {
            return Self::read(dir);
        }
        notes.push(format!(
            "{}: no Mean.npy/Std.npy; computed them from the train split",
            dir.display()
        ));
        Self::from_train_split(dir, notes)
    }

    /// `dir/Mean.npy` and `dir/Std.npy`, both required: shape [263], finite, every std > 0.
    pub fn read(dir: &Path) -> Result<Self> {
        let std_path = dir.join("Std.npy");
        let mean = read_vector(&dir.join("Mean.npy"))?;
        let std = read_vector(&std_path)?;
        if let Some(i) = std.iter().position(|&s| s <= 0.0) {
            return Err(Error::file(
                &std_path,
                format!("dimension {i} has std {} (must be > 0)", std[i]),
            ));
        }
        Ok(Self { mean, std })
    }

    /// Per-dimension mean over every row of the train split's motions; std per dimension, replaced by
    /// its group mean over [`STD_GROUPS`], each floored at [`STD_FLOOR`].
    pub fn from_train_split(dir: &Path, notes: &mut Vec<String>) -> Result<Self> {
        let ids = read_split(dir, "train")?;
        let mut sum = vec![0f64; FEATURE_DIM];
        let mut sq = vec![0f64; FEATURE_DIM];
        let mut rows = 0usize;
        for id in &ids {
            let (n, feats) = read_features(dir, id)?;
            for row in feats.chunks_exact(FEATURE_DIM) {
                for (d, &v) in row.iter().enumerate() {
                    sum[d] += v as f64;
                    sq[d] += (v as f64) * (v as f64);
                }
            }
            rows += n;
        }
        if rows == 0 {
            return Err(Error::file(
                dir.join("train.txt"),
                "the train split has no feature rows",
            ));
        }
        Ok(Self::from_moments(&sum, &sq, rows, notes))
    }

    /// From per-dimension sums and sums of squares over `rows` rows.
    pub fn from_moments(sum: &[f64], sq: &[f64], rows: usize, notes: &mut Vec<String>) -> Self {
        let n = rows as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std: Vec<f64> = (0..FEATURE_DIM)
            .map(|d| (sq[d] / n - mean[d] * mean[d]).max(0.0).sqrt())
            .collect();
        let mut grouped = vec![0f64; FEATURE_DIM];
        for group in STD_GROUPS {
            let avg = std[group.clone()].iter().sum::<f64>() / group.len() as f64;
            if avg < STD_FLOOR {
                notes.push(format!(
                    "std of feature dims {}..{} averages {avg:.3e}; floored at {STD_FLOOR}",
                    group.start, group.end
                ));
            }
            grouped[group].fill(avg.max(STD_FLOOR));
        }
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: grouped.iter().map(|&s| s as f32).collect(),
        }
    }

    /// Writes `Mean.npy` and `Std.npy` into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        npy::write_array(
            &dir.join("Mean.npy"),
            &ArrayD::from_shape_vec(vec![FEATURE_DIM], self.mean.clone()).unwrap(),
        )?;
        npy::write_array(
            &dir.join("Std.npy"),
            &ArrayD::from_shape_vec(vec![FEATURE_DIM], self.std.clone()).unwrap(),
        )
    }
}

fn read_vector(path: &Path) -> Result<Vec<f32>> {
    let a = npy::read_f64(path)?;
    if a.shape() != [FEATURE_DIM] {
        return Err(Error::file(
            path,
            format!("expected shape [{FEATURE_DIM}], got {:?}", a.shape()),
        ));
    }
    if let Some(i) = a.iter().position(|v| !v.is_finite()) {
        return Err(Error::file(path, format!("value {i} is not finite")));
    }
    Ok(a.iter().map(|&v| v as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_average_and_floor() {
        // Two rows per dim: values d and d + 2 * (d % 2) -> std 0 or 1 alternating; dim 3 constant.
        let mut sum = vec![0f64; FEATURE_DIM];
        let mut sq = vec![0f64; FEATURE_DIM];
        for d in 0..FEATURE_DIM {
            let (a, b) = (d as f64, d as f64 + 2.0 * (d % 2) as f64);
            sum[d] = a + b;
            sq[d] = a * a + b * b;
        }
        let mut notes = Vec::new();
        let n = Normalization::from_moments(&sum, &sq, 2, &mut notes);
        assert_eq!(n.mean[4], 4.0);
        assert_eq!(n.mean[5], 6.0);
        // RIC group 4..67: 32 even dims (std 0) and 31 odd dims (std 1) -> 31/63.
        assert!((n.std[10] as f64 - 31.0 / 63.0).abs() < 1e-6);
        assert!(n.std[4..67].iter().all(|&s| s == n.std[4]));
        // dim 0 (even) alone: std 0 -> floored, with a note; dim 3 (odd): std 1.
        assert_eq!(n.std[0] as f64, STD_FLOOR as f32 as f64);
        assert_eq!(n.std[3], 1.0);
        assert!(notes.iter().any(|m| m.contains("dims 0..1")), "{notes:?}");
    }
}
