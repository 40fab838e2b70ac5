//! Writes synthesised clips as a HumanML3D-layout folder: into a temporary sibling folder that is
//! renamed at the end, so an interrupted run never leaves a folder that looks complete.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use serde_json::json;
use tch::Tensor;

use super::{clip, rng_for, FPS};
use crate::data::layout::{
    captions_path, features_path, joints_path, FEATURES_DIR, JOINTS_DIR, TEXTS_DIR,
};
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::features::{features_from_joints, joints_from_features, FEATURE_DIM};
use crate::npy::write_tensor;

/// Bumped whenever the generator's output for a (seed, index) changes.
pub const GENERATOR_VERSION: u32 = 1;
/// Most clips one call makes.
pub const MAX_COUNT: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub count: usize,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            count: 1000,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SynthReport {
    pub clips: usize,
    pub frames: usize,
    pub captions: usize,
    /// Ids per split (train, val, test).
    pub splits: [usize; 3],
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::file(path, e.to_string())
}

/// Makes `opts.count` clips into the new folder `out` (which must not exist, or be empty).
pub fn synthesize(
    out: &Path,
    opts: &SynthOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<SynthReport> {
    if opts.count == 0 || opts.count > MAX_COUNT {
        return Err(Error::Invalid(format!(
            "--count {} must be between 1 and {MAX_COUNT}",
            opts.count
        )));
    }
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(Error::file(
            out,
            "exists and is not empty; choose a new folder",
        ));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "synth".into());
    let tmp: PathBuf = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = write_all(&tmp, opts, &mut progress);
    match result {
        Ok(report) => {
            if out.exists() {
                std::fs::remove_dir(out).map_err(io(out))?;
            }
            std::fs::rename(&tmp, out).map_err(io(out))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn write_all(
    dir: &Path,
    opts: &SynthOptions,
    progress: &mut impl FnMut(usize, usize),
) -> Result<SynthReport> {
    for sub in [FEATURES_DIR, JOINTS_DIR, TEXTS_DIR] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(dir))?;
    }
    // Splits: a seeded permutation, 80% / 10% / 10%.
    let mut order: Vec<usize> = (0..opts.count).collect();
    order.shuffle(&mut rng_for(opts.seed ^ 0x5EED_5711, 0));
    let n_train = ((opts.count as f64 * 0.8).round() as usize).max(1);
    let n_val = (opts.count as f64 * 0.1).round() as usize;
    let mut split_of = vec![0u8; opts.count];
    for (rank, &i) in order.iter().enumerate() {
        split_of[i] = if rank < n_train {
            0
        } else if rank < n_train + n_val {
            1
        } else {
            2
        };
    }
    let (mut sum, mut sq, mut rows) = (vec![0f64; FEATURE_DIM], vec![0f64; FEATURE_DIM], 0usize);
    let mut report = SynthReport {
        clips: 0,
        frames: 0,
        captions: 0,
        splits: [0; 3],
    };
    let mut ids: [Vec<String>; 3] = Default::default();
    for (i, &split) in split_of.iter().enumerate() {
        progress(i, opts.count);
        let c = clip(opts.seed, i as u64);
        let id = format!("{i:06}");
        let flat: Vec<f64> = c.joints.iter().flatten().flatten().copied().collect();
        let joints = Tensor::from_slice(&flat).reshape([c.joints.len() as i64, 22, 3]);
        let feats = features_from_joints(&joints)?;
        write_tensor(&features_path(dir, &id), &feats)?;
        write_tensor(&joints_path(dir, &id), &joints_from_features(&feats)?)?;
        let n_rows = feats.size()[0] as usize;
        write_captions(dir, &id, &c.captions, n_rows)?;
        let split = split as usize;
        if split == 0 {
            let f = Vec::<f64>::try_from(
                feats
                    .flatten(0, -1)
                    .to_kind(tch::Kind::Float)
                    .to_kind(tch::Kind::Double),
            )?;
            for row in f.chunks_exact(FEATURE_DIM) {
                for (d, &v) in row.iter().enumerate() {
                    sum[d] += v;
                    sq[d] += v * v;
                }
            }
            rows += n_rows;
        }
        ids[split].push(id);
        report.clips += 1;
        report.frames += c.joints.len();
        report.captions += c.captions.len();
    }
    progress(opts.count, opts.count);
    let mut notes = Vec::new();
    Normalization::from_moments(&sum, &sq, rows.max(1), &mut notes).write(dir)?;
    for (k, split) in ["train", "val", "test"].iter().enumerate() {
        report.splits[k] = ids[k].len();
        let text: String = ids[k].iter().map(|id| format!("{id}\n")).collect();
        train::write_atomic(&dir.join(format!("{split}.txt")), text.as_bytes())?;
    }
    let meta = json!({
        "generator": "keta data synth", "generator_version": GENERATOR_VERSION, "seed": opts.seed,
        "count": opts.count, "fps": FPS, "frames": report.frames, "captions": report.captions,
        "note": "procedurally animated and captioned motion; caption token fields are empty (no POS tags yet)",
    });
    train::write_atomic(
        &dir.join("synth.json"),
        serde_json::to_string_pretty(&meta)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(report)
}

/// `texts/<id>.txt` (`caption##0.0#0.0`: whole clip, no tokens) and `texts/<id>.json` (segments in
/// feature rows, end exclusive).
fn write_captions(dir: &Path, id: &str, captions: &[super::Caption], rows: usize) -> Result<()> {
    let txt_path = captions_path(dir, id);
    train::write_atomic_with(&txt_path, |w| {
        for c in captions {
            w.write_all(format!("{}##0.0#0.0\n", c.text.replace('#', " ")).as_bytes())?;
        }
        Ok(())
    })?;
    let lines: Vec<_> = captions
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let segments: Vec<_> = c
                .segments
                .iter()
                .map(|(text, s, e)| json!({"text": text, "start": (*s).min(rows), "end": (*e).min(rows)}))
                .collect();
            json!({"line": k + 1, "caption": c.text, "segments": segments})
        })
        .collect();
    let doc = json!({"fps": FPS, "captions": lines});
    train::write_atomic(
        &txt_path.with_extension("json"),
        serde_json::to_string(&doc).expect("json").as_bytes(),
    )?;
    Ok(())
}
