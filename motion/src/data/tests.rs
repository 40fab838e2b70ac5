//! Loading, normalising, batching and checking small data folders written by the tests.

use std::path::Path;

use tch::Tensor;

use super::*;
use crate::data::layout::{captions_path, features_path, joints_path};
use crate::features::{features_from_joints, joints_from_features, FEATURE_DIM};
use crate::npy::{read_tensor, write_tensor};
use crate::test_motion::wiggle;

/// Writes motion `id` with `frames` joint frames (frames - 1 feature rows) and its caption lines.
fn write_motion(dir: &Path, id: &str, frames: i64, captions: &[&str]) {
    for sub in ["new_joint_vecs", "new_joints", "texts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let feats = features_from_joints(&wiggle(frames, 0.3, id.len() as u64)).unwrap();
    write_tensor(&features_path(dir, id), &feats).unwrap();
    write_tensor(
        &joints_path(dir, id),
        &joints_from_features(&feats).unwrap(),
    )
    .unwrap();
    std::fs::write(captions_path(dir, id), captions.join("\n") + "\n").unwrap();
}

fn write_split(dir: &Path, split: &str, ids: &[&str]) {
    std::fs::write(dir.join(format!("{split}.txt")), ids.join("\n") + "\n").unwrap();
}

/// a: 80 rows, two whole-clip captions and a 50-row sub-clip; b: 30 rows (too short);
/// c: 120 rows with a 20-row sub-clip (too short).
fn small_folder() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_motion(
        dir,
        "a",
        81,
        &[
            "a man walks.#a/DET man/NOUN walk/VERB#0.0#0.0",
            "someone walks#someone/PRON walk/VERB#0.0#0.0",
            "he turns#he/PRON turn/VERB#0.5#3.0",
        ],
    );
    write_motion(dir, "b", 31, &["a short one#a/DET#0.0#0.0"]);
    write_motion(
        dir,
        "c",
        121,
        &["a person waves#a/DET#nan#nan", "a wave#a/DET#0.0#1.0"],
    );
    write_split(dir, "train", &["a", "b", "c"]);
    write_split(dir, "val", &["a"]);
    write_split(dir, "test", &["c"]);
    tmp
}

fn load(dir: &Path) -> crate::Result<Dataset> {
    Dataset::load(dir, "train", &LoadOptions::default(), |_, _| {})
}

fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for sub in ["", "new_joint_vecs", "new_joints", "texts"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            out.push((
                e.path().display().to_string(),
                m.len(),
                m.modified().unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn loads_whole_clips_and_sub_clips_through_the_length_filter() {
    let tmp = small_folder();
    let before = listing(tmp.path());
    let data = load(tmp.path()).unwrap();
    let names: Vec<(&str, usize, usize)> = data
        .samples
        .iter()
        .map(|s| (s.name.as_str(), s.rows.len(), s.captions.len()))
        .collect();
    assert_eq!(names, vec![("a#3", 50, 1), ("a", 80, 2), ("c", 120, 1)]);
    assert_eq!(data.samples[0].rows, 10..60);
    assert_eq!(
        data.skipped_by_length, 2,
        "b is too short, and so is c's one-second sub-clip"
    );
    // Rows of a sub-clip are the motion's rows.
    let a = read_tensor(&features_path(tmp.path(), "a")).unwrap();
    let sub: Vec<f32> =
        Vec::try_from(a.narrow(0, 10, 50).to_kind(tch::Kind::Float).flatten(0, -1)).unwrap();
    assert_eq!(data.sample_rows(&data.samples[0]), sub.as_slice());
    assert_eq!(
        listing(tmp.path()),
        before,
        "loading never writes into the data folder"
    );
}

#[test]
fn statistics_are_computed_from_train_rows_when_absent_and_used_as_shipped() {
    let tmp = small_folder();
    let data = load(tmp.path()).unwrap();
    assert!(
        data.notes.iter().any(|n| n.contains("computed")),
        "{:?}",
        data.notes
    );
    // Independent computation: all rows of a, b and c (the length filter does not apply here).
    let rows: Vec<Tensor> = ["a", "b", "c"]
        .iter()
        .map(|id| read_tensor(&features_path(tmp.path(), id)).unwrap())
        .collect();
    let all = Tensor::cat(&rows, 0)
        .to_kind(tch::Kind::Float)
        .to_kind(tch::Kind::Double);
    let mean = Vec::<f64>::try_from(all.mean_dim(0, false, tch::Kind::Double)).unwrap();
    for d in [0, 3, 100, 262] {
        assert!(
            (data.normalization.mean[d] as f64 - mean[d]).abs() < 1e-5,
            "dim {d}"
        );
    }
    let std = all.std_dim(0, false, false); // population std, like numpy's default
    let ric = std
        .narrow(0, 4, 63)
        .mean(tch::Kind::Double)
        .double_value(&[])
        .max(normalization::STD_FLOOR);
    assert!((data.normalization.std[40] as f64 - ric).abs() < 1e-5);

    let shipped = Normalization {
        mean: vec![0.5; FEATURE_DIM],
        std: vec![2.0; FEATURE_DIM],
    };
    shipped.write(tmp.path()).unwrap();
    assert_eq!(load(tmp.path()).unwrap().normalization, shipped);
}

#[test]
fn batches_are_cropped_padded_normalised_and_repeatable() {
    let tmp = small_folder();
    let data = load(tmp.path()).unwrap();
    let opts = BatchOptions {
        batch_size: 2,
        seed: 7,
        ..Default::default()
    };
    let batches: Vec<Batch> = data.batches(&opts, 0).collect();
    assert_eq!(
        batches.len(),
        1,
        "3 samples, batch 2, last partial batch dropped"
    );
    assert_eq!(data.batches(&opts, 0).len(), 1);
    let b = &batches[0];
    assert_eq!(b.motions.size(), vec![2, 196, 263]);
    for (i, &len) in b.lengths.iter().enumerate() {
        assert!(len % 4 == 0 && len >= 40, "length {len}");
        let pad = b.motions.get(i as i64).narrow(0, len, 196 - len);
        assert_eq!(
            pad.abs().sum(tch::Kind::Double).double_value(&[]),
            0.0,
            "zero padding"
        );
    }
    // Same seed and epoch: the same batch; all epochs together visit the samples in varying order.
    let again: Vec<Batch> = data.batches(&opts, 0).collect();
    assert!(
        again[0].motions.equal(&b.motions)
            && again[0].names == b.names
            && again[0].captions == b.captions
    );
    let orders: std::collections::HashSet<Vec<String>> = (0..8)
        .map(|e| data.batches(&opts, e).next().unwrap().names)
        .collect();
    assert!(orders.len() > 1, "shuffling depends on the epoch");

    // A full-length crop of a whole clip equals the normalised rows.
    let all = BatchOptions {
        batch_size: 3,
        drop_last: false,
        seed: 1,
        ..Default::default()
    };
    let b = data.batches(&all, 0).next().unwrap();
    let i = b.names.iter().position(|n| n == "c").unwrap();
    let len = b.lengths[i];
    let first = b.motions.get(i as i64).get(0);
    let raw = data.sample_rows(&data.samples[2]);
    let norm = &data.normalization;
    let candidates: Vec<usize> = (0..=(120 - len as usize)).collect();
    let matches = candidates.iter().any(|&s| {
        (0..FEATURE_DIM).all(|k| {
            ((raw[s * FEATURE_DIM + k] - norm.mean[k]) / norm.std[k]
                - first.double_value(&[k as i64]) as f32)
                .abs()
                < 1e-5
        })
    });
    assert!(
        matches,
        "the first row of c's crop is a normalised row of c"
    );
}

fn expect_error(dir: &Path, needles: &[&str]) {
    let e = load(dir).unwrap_err().to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    for n in needles {
        assert!(e.contains(n), "{e:?} lacks {n:?}");
    }
}

#[test]
fn bad_folders_give_one_line_errors_naming_the_file() {
    let tmp = small_folder();
    let dir = tmp.path();

    std::fs::write(captions_path(dir, "a"), "a man walks forward\n").unwrap();
    expect_error(dir, &["texts/a.txt:1:", "caption#tokens#start#end"]);
    std::fs::write(captions_path(dir, "a"), "x#t#3.0#1.0\n").unwrap();
    expect_error(dir, &["texts/a.txt:1:", "start 3 s is not before end 1 s"]);
    std::fs::write(captions_path(dir, "a"), "x#t#1.0#9.0\n").unwrap();
    expect_error(dir, &["texts/a.txt:1:", "ends at row 180", "only 80 rows"]);
    std::fs::write(captions_path(dir, "a"), "x#t#0#0\n").unwrap();

    let nan = read_tensor(&features_path(dir, "c")).unwrap();
    let _ = nan.get(5).get(7).fill_(f64::NAN);
    write_tensor(&features_path(dir, "c"), &nan).unwrap();
    expect_error(
        dir,
        &["new_joint_vecs/c.npy", "non-finite value at row 5, dim 7"],
    );

    write_tensor(
        &features_path(dir, "c"),
        &Tensor::zeros([50, 22, 3], (tch::Kind::Float, tch::Device::Cpu)),
    )
    .unwrap();
    expect_error(dir, &["new_joint_vecs/c.npy", "[rows, 263]", "[50, 22, 3]"]);

    let bytes = std::fs::read(features_path(dir, "a")).unwrap();
    std::fs::write(features_path(dir, "c"), &bytes[..bytes.len() / 2]).unwrap();
    expect_error(dir, &["new_joint_vecs/c.npy", "truncated"]);
    std::fs::write(features_path(dir, "c"), b"").unwrap();
    expect_error(dir, &["new_joint_vecs/c.npy", "truncated or empty"]);

    std::fs::remove_file(dir.join("train.txt")).unwrap();
    expect_error(dir, &["train.txt", "missing or unreadable split file"]);
}

#[test]
fn check_reports_every_problem_and_writes_nothing() {
    let tmp = small_folder();
    let dir = tmp.path();
    let clean = check(dir, |_, _| {});
    assert!(clean.is_clean(), "{clean}");
    assert_eq!((clean.ids, clean.rows.len(), clean.usable), (3, 3, 2));
    assert_eq!(clean.captions, vec![3, 1, 2]);

    std::fs::write(
        captions_path(dir, "a"),
        "no fields here\nok#t#0#0\nx#t#2#1\n",
    )
    .unwrap();
    std::fs::write(features_path(dir, "b"), b"garbage").unwrap();
    write_tensor(
        &joints_path(dir, "c"),
        &Tensor::zeros([7, 22, 3], (tch::Kind::Float, tch::Device::Cpu)),
    )
    .unwrap();
    std::fs::remove_file(dir.join("test.txt")).unwrap();
    let before = listing(dir);
    let report = check(dir, |_, _| {});
    assert_eq!(listing(dir), before, "check never writes");
    let text = report.to_string();
    for needle in [
        "texts/a.txt:1:",
        "texts/a.txt:3: start 2 s is not before end 1 s",
        "new_joint_vecs/b.npy: not a valid .npy",
        "new_joints/c.npy: expected shape [120, 22, 3]",
        "test.txt: missing",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    assert_eq!(report.problems.len(), 5, "{text}");
}
