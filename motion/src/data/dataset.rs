//! A split of a HumanML3D-layout data set in memory: whole clips and captioned sub-clips, filtered by
//! length as the reference loader does.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::captions::{read_caption_file, CaptionLine};
use crate::data::layout::{captions_path, read_features, read_split};
use crate::data::normalization::Normalization;
use crate::error::{Error, Result};

/// Loading rules; the defaults are HumanML3D's.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Keep clips whose row count is in `min_rows..max_rows`.
    pub min_rows: usize,
    pub max_rows: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            min_rows: 40,
            max_rows: 200,
        }
    }
}

/// A training example: rows of one motion and the captions that describe them.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Motion id, with `#<line>` appended for a sub-clip.
    pub name: String,
    pub motion: usize,
    pub rows: Range<usize>,
    pub captions: Vec<CaptionLine>,
}

/// One split, loaded.
#[derive(Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub split: String,
    pub samples: Vec<Sample>,
    /// Raw feature rows of each motion, row-major `[rows * 263]`.
    pub motions: Vec<Arc<[f32]>>,
    pub normalization: Normalization,
    /// Clips dropped by the length filter (not errors: the reference drops them too).
    pub skipped_by_length: usize,
    /// Things worth telling the user (computed statistics, floors).
    pub notes: Vec<String>,
}

impl Dataset {
    /// Loads `split` of the folder `dir`; `progress(done, total)` is called per motion.
    /// Any unreadable or inconsistent file is an error naming it; nothing in `dir` is written.
    pub fn load(
        dir: &Path,
        split: &str,
        opts: &LoadOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let ids = read_split(dir, split)?;
        let mut notes = Vec::new();
        let normalization = Normalization::for_data_dir(dir, &mut notes)?;
        let keep = |n: usize| (opts.min_rows..opts.max_rows).contains(&n);
        let (mut samples, mut motions, mut skipped) = (Vec::new(), Vec::new(), 0);
        for (k, id) in ids.iter().enumerate() {
            progress(k, ids.len());
            let (rows, feats) = read_features(dir, id)?;
            let lines = read_caption_file(&captions_path(dir, id))?;
            if !keep(rows) {
                skipped += 1;
                continue;
            }
            let motion = motions.len();
            motions.push(Arc::from(feats));
            let mut whole = Vec::new();
            for (line, cap) in lines.into_iter().enumerate() {
                match cap.rows.clone() {
                    None => whole.push(cap),
                    Some(r) if r.end > rows => {
                        return Err(Error::Line {
                            path: captions_path(dir, id),
                            line: line + 1,
                            msg: format!(
                                "sub-clip ends at row {} but the motion has only {rows} rows",
                                r.end
                            ),
                        })
                    }
                    Some(r) if keep(r.len()) => samples.push(Sample {
                        name: format!("{id}#{}", line + 1),
                        motion,
                        rows: r,
                        captions: vec![cap],
                    }),
                    Some(_) => skipped += 1,
                }
            }
            if !whole.is_empty() {
                samples.push(Sample {
                    name: id.clone(),
                    motion,
                    rows: 0..rows,
                    captions: whole,
                });
            }
        }
        progress(ids.len(), ids.len());
        Ok(Self {
            dir: dir.to_path_buf(),
            split: split.to_string(),
            samples,
            motions,
            normalization,
            skipped_by_length: skipped,
            notes,
        })
    }

    /// Raw feature rows `[rows * 263]` of a sample.
    pub fn sample_rows(&self, sample: &Sample) -> &[f32] {
        let d = crate::features::FEATURE_DIM;
        &self.motions[sample.motion][sample.rows.start * d..sample.rows.end * d]
    }
}
