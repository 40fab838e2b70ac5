//! Writes synthesised clips as a HumanML3D-layout folder (through `data::writer`, which renames a
//! temporary folder at the end).

use std::path::Path;

use serde_json::json;
use tch::Tensor;

use super::{clip, FPS};
use crate::data::layout::captions_path;
use crate::data::writer::{split_assignment, FolderWriter};
use crate::error::{Error, Result};

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
    let mut writer = FolderWriter::create(out)?;
    let mut report = SynthReport {
        clips: 0,
        frames: 0,
        captions: 0,
        splits: [0; 3],
    };
    for (i, split) in split_assignment(opts.count, opts.seed)
        .into_iter()
        .enumerate()
    {
        progress(i, opts.count);
        let c = clip(opts.seed, i as u64);
        let id = format!("{i:06}");
        let flat: Vec<f64> = c.joints.iter().flatten().flatten().copied().collect();
        let joints = Tensor::from_slice(&flat).reshape([c.joints.len() as i64, 22, 3]);
        // Whole-clip captions; no part-of-speech tokens yet.
        let lines: Vec<String> = c
            .captions
            .iter()
            .map(|cap| format!("{}##0.0#0.0", cap.text.replace('#', " ")))
            .collect();
        let feats = writer.add(&id, &joints, &lines, split)?;
        write_segments(writer.dir(), &id, &c.captions, feats.size()[0] as usize)?;
        report.clips += 1;
        report.frames += c.joints.len();
        report.captions += c.captions.len();
    }
    progress(opts.count, opts.count);
    let meta = json!({
        "generator": "keta data synth", "generator_version": GENERATOR_VERSION, "seed": opts.seed,
        "count": opts.count, "fps": FPS, "frames": report.frames, "captions": report.captions,
        "note": "procedurally animated and captioned motion; caption token fields are empty (no POS tags yet)",
    });
    report.splits = writer.finish("synth.json", &meta)?;
    Ok(report)
}

/// `texts/<id>.json`: per caption line (1-based), its segments in feature rows (end exclusive).
fn write_segments(dir: &Path, id: &str, captions: &[super::Caption], rows: usize) -> Result<()> {
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
    Ok(train::write_atomic(
        &captions_path(dir, id).with_extension("json"),
        serde_json::to_string(&doc).expect("json").as_bytes(),
    )?)
}
