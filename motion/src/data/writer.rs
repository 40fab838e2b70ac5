//! Writing a HumanML3D-layout folder (the synthesiser and the importers share it): clips go into a
//! temporary sibling folder that is renamed when everything, statistics and splits included, is
//! written, so an interrupted run never leaves a folder that looks complete.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::data::layout::{
    captions_path, features_path, joints_path, FEATURES_DIR, JOINTS_DIR, SPLITS, TEXTS_DIR,
};
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::features::{features_from_joints, joints_from_features, FEATURE_DIM};
use crate::npy::write_tensor;

/// Split of each of `count` clips (0 train, 1 val, 2 test): a seeded permutation, 80/10/10, at least
/// one clip in train.
pub fn split_assignment(count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5711));
    let n_train = ((count as f64 * 0.8).round() as usize).max(1);
    let n_val = (count as f64 * 0.1).round() as usize;
    let mut split = vec![0; count];
    for (rank, &i) in order.iter().enumerate() {
        split[i] = if rank < n_train {
            0
        } else if rank < n_train + n_val {
            1
        } else {
            2
        };
    }
    split
}

pub struct FolderWriter {
    out: PathBuf,
    tmp: PathBuf,
    sum: Vec<f64>,
    sq: Vec<f64>,
    rows: usize,
    ids: [Vec<String>; 3],
    done: bool,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::file(path, e.to_string())
}

impl FolderWriter {
    /// Starts a folder at `out`, which must not exist or be empty.
    pub fn create(out: &Path) -> Result<Self> {
        if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
            return Err(Error::file(
                out,
                "exists and is not empty; choose a new folder",
            ));
        }
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        for sub in [FEATURES_DIR, JOINTS_DIR, TEXTS_DIR] {
            std::fs::create_dir_all(tmp.join(sub)).map_err(io(&tmp))?;
        }
        Ok(Self {
            out: out.to_path_buf(),
            tmp,
            sum: vec![0.0; FEATURE_DIM],
            sq: vec![0.0; FEATURE_DIM],
            rows: 0,
            ids: Default::default(),
            done: false,
        })
    }

    /// The folder being written (for extra files such as `texts/<id>.json`).
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Adds clip `id` (joints `[T, 22, 3]`, metres) with caption lines (`caption#tokens#start#end`)
    /// to `split`; returns its feature rows `[T-1, 263]`.
    pub fn add(
        &mut self,
        id: &str,
        joints: &Tensor,
        caption_lines: &[String],
        split: usize,
    ) -> Result<Tensor> {
        let feats = write_clip(&self.tmp, id, joints, caption_lines)?;
        self.record(id, &feats, split)?;
        Ok(feats)
    }

    /// Counts clip `id`, already written by [`write_clip`], in `split` (and, for the train split,
    /// in the Mean/Std statistics). Call in clip order: the sums are order-dependent in the last
    /// bits, and the data set must not depend on thread timing.
    pub fn record(&mut self, id: &str, feats: &Tensor, split: usize) -> Result<()> {
        if split == 0 {
            // Statistics of the rows as stored (float32).
            let f = Vec::<f64>::try_from(
                feats
                    .to_kind(Kind::Float)
                    .to_kind(Kind::Double)
                    .flatten(0, -1),
            )?;
            for row in f.chunks_exact(FEATURE_DIM) {
                for (d, &v) in row.iter().enumerate() {
                    self.sum[d] += v;
                    self.sq[d] += v * v;
                }
            }
            self.rows += f.len() / FEATURE_DIM;
        }
        self.ids[split].push(id.to_string());
        Ok(())
    }

    /// Writes Mean/Std (from the train rows), the split files and `meta_name` (JSON), then renames
    /// the folder into place. Returns the ids per split.
    pub fn finish(mut self, meta_name: &str, meta: &serde_json::Value) -> Result<[usize; 3]> {
        let mut notes = Vec::new();
        Normalization::from_moments(&self.sum, &self.sq, self.rows.max(1), &mut notes)
            .write(&self.tmp)?;
        for (k, split) in SPLITS.iter().enumerate() {
            let text: String = self.ids[k].iter().map(|id| format!("{id}\n")).collect();
            train::write_atomic(&self.tmp.join(format!("{split}.txt")), text.as_bytes())?;
        }
        train::write_atomic(
            &self.tmp.join(meta_name),
            serde_json::to_string_pretty(meta).expect("json").as_bytes(),
        )?;
        if self.out.exists() {
            std::fs::remove_dir(&self.out).map_err(io(&self.out))?;
        }
        std::fs::rename(&self.tmp, &self.out).map_err(io(&self.out))?;
        self.done = true;
        Ok([self.ids[0].len(), self.ids[1].len(), self.ids[2].len()])
    }
}

/// Writes clip `id`'s files into the folder `dir` (from [`FolderWriter::dir`]): feature rows, the
/// joints recovered from them, the caption lines. Independent of other clips, so several threads
/// may write clips at once. Returns the feature rows `[T-1, 263]`.
pub fn write_clip(
    dir: &Path,
    id: &str,
    joints: &Tensor,
    caption_lines: &[String],
) -> Result<Tensor> {
    let feats = features_from_joints(joints)?;
    write_tensor(&features_path(dir, id), &feats)?;
    write_tensor(&joints_path(dir, id), &joints_from_features(&feats)?)?;
    let text: String = caption_lines.iter().map(|l| format!("{l}\n")).collect();
    train::write_atomic(&captions_path(dir, id), text.as_bytes())?;
    Ok(feats)
}

impl Drop for FolderWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
