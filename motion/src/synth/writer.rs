//! Writes synthesised clips as a HumanML3D-layout folder (through `data::writer`, which renames a
//! temporary folder at the end).

use std::path::Path;

use serde_json::json;
use tch::Tensor;

use super::{clip, FPS};
use crate::data::layout::captions_path;
use crate::data::writer::{split_assignment, write_clip, FolderWriter};
use crate::error::{Error, Result};

/// Bumped whenever the generator's output for a (seed, index) changes (2: `word/POS` tokens).
pub const GENERATOR_VERSION: u32 = 2;
/// Most clips one call makes.
pub const MAX_COUNT: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub count: usize,
    pub seed: u64,
    /// Caption -> HumanML3D `word/POS` tokens for the caption files' token field (the evaluator's
    /// part-of-speech tagger, `eval::pos::humanml3d_tokens`; it lives above this crate). None: the
    /// field stays empty.
    pub tagger: Option<fn(&str) -> Vec<String>>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            count: 1000,
            seed: 0,
            tagger: None,
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
    let splits = split_assignment(opts.count, opts.seed);
    let dir = writer.dir().to_path_buf();
    // Clips are independent (each from (seed, index)): worker threads make and write them; this
    // thread counts them in index order, so the folder is the same whatever the thread count.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Made>)>();
        for _ in 0..workers {
            let (tx, next, dir) = (tx.clone(), &next, &dir);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= opts.count {
                    return;
                }
                if tx.send((i, make(dir, opts, i))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut pending = std::collections::BTreeMap::new();
        let mut expected = 0;
        for (i, made) in rx {
            pending.insert(i, made);
            while let Some(made) = pending.remove(&expected) {
                // An error stops the workers (they see the receiver gone) and the folder is removed.
                let made = made?;
                progress(expected, opts.count);
                writer.record(&made.id, &made.feats, splits[expected])?;
                report.clips += 1;
                report.frames += made.frames;
                report.captions += made.captions;
                expected += 1;
            }
        }
        Ok(())
    })?;
    progress(opts.count, opts.count);
    let meta = json!({
        "generator": "keta data synth", "generator_version": GENERATOR_VERSION, "seed": opts.seed,
        "count": opts.count, "fps": FPS, "frames": report.frames, "captions": report.captions,
        "note": if opts.tagger.is_some() {
            "procedurally animated and captioned motion; caption tokens tagged by keta's part-of-speech tagger"
        } else {
            "procedurally animated and captioned motion; caption token fields are empty"
        },
    });
    report.splits = writer.finish("synth.json", &meta)?;
    Ok(report)
}

/// One clip, written.
struct Made {
    id: String,
    feats: Tensor,
    frames: usize,
    captions: usize,
}

/// Makes clip `i` of `opts.seed` and writes its files (features, joints, captions, segments) into
/// `dir`.
fn make(dir: &Path, opts: &SynthOptions, i: usize) -> Result<Made> {
    let c = clip(opts.seed, i as u64);
    let id = format!("{i:06}");
    let flat: Vec<f64> = c.joints.iter().flatten().flatten().copied().collect();
    let joints = Tensor::from_slice(&flat).reshape([c.joints.len() as i64, 22, 3]);
    // Whole-clip captions: `caption#word/POS ...#0.0#0.0`.
    let lines: Vec<String> = c
        .captions
        .iter()
        .map(|cap| {
            let text = cap.text.replace('#', " ");
            let tokens = opts
                .tagger
                .map(|tag| tag(&text).join(" "))
                .unwrap_or_default();
            format!("{text}#{}#0.0#0.0", tokens.replace('#', " "))
        })
        .collect();
    let feats = write_clip(dir, &id, &joints, &lines)?;
    write_segments(dir, &id, &c.captions, feats.size()[0] as usize)?;
    Ok(Made {
        id,
        feats,
        frames: c.joints.len(),
        captions: c.captions.len(),
    })
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
