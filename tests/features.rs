//! `keta features from-joints | to-joints` against the shared reference fixtures.

use ndarray::ShapeBuilder;
use ndarray_npy::WriteNpyExt;

use crate::util::{assert_one_line_error, fixture, keta, keta_ok, max_abs_diff, read_f32};

#[test]
fn round_trip_through_the_command_line_matches_the_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["walk_forward", "random_a", "random_b"] {
        let feats = tmp.path().join(format!("{name}.features.npy"));
        let joints = tmp.path().join(format!("{name}.joints.npy"));
        let input = fixture(&format!("{name}.joints.npy"));
        keta_ok(&[
            "features",
            "from-joints",
            "--joints",
            input.to_str().unwrap(),
            "--out",
            feats.to_str().unwrap(),
        ]);
        let ours = read_f32(&feats);
        let want = read_f32(&fixture(&format!("{name}.features.npy")));
        assert_eq!(ours.shape(), want.shape());
        let core_err = ours
            .indexed_iter()
            .filter(|(i, _)| !(67..193).contains(&i[1]))
            .map(|(i, v)| (v - want[&i]).abs())
            .fold(0.0f32, f32::max);
        assert!(core_err < 1e-5, "{name}: {core_err}");

        keta_ok(&[
            "features",
            "to-joints",
            "--features",
            feats.to_str().unwrap(),
            "--out",
            joints.to_str().unwrap(),
        ]);
        let err = max_abs_diff(
            &read_f32(&joints),
            &read_f32(&fixture(&format!("{name}.recovered.npy"))),
        );
        assert!(err < 1e-4, "{name}: recovered joints differ by {err} m");
    }
}

#[test]
fn float64_fortran_input_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let joints = read_f32(&fixture("walk_forward.joints.npy"));
    let shape = joints.shape().to_vec();
    let mut fortran = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&shape).f());
    fortran.zip_mut_with(&joints, |a, &b| *a = b as f64);
    let input = tmp.path().join("f64.npy");
    fortran
        .write_npy(std::fs::File::create(&input).unwrap())
        .unwrap();
    let out = tmp.path().join("out.npy");
    keta_ok(&[
        "features",
        "from-joints",
        "--joints",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let want = read_f32(&fixture("walk_forward.features.npy"));
    let ours = read_f32(&out);
    let err = ours
        .iter()
        .zip(want.iter())
        .enumerate()
        .filter(|(i, _)| !(67..193).contains(&(i % 263)))
        .map(|(_, (a, b))| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "{err}");
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.npy");
    let out = out.to_str().unwrap();
    let joints = fixture("tpose.joints.npy");
    let o = keta(&[
        "features",
        "to-joints",
        "--features",
        joints.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_one_line_error(&o, 1, &["tpose.joints.npy", "263", "[40, 22, 3]"]);
    let missing = tmp.path().join("nope.npy");
    let o = keta(&[
        "features",
        "from-joints",
        "--joints",
        missing.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_one_line_error(&o, 1, &["nope.npy", "cannot open"]);
    let empty = tmp.path().join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    let o = keta(&[
        "features",
        "from-joints",
        "--joints",
        empty.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_one_line_error(&o, 1, &["empty.npy", "truncated or empty"]);
    let o = keta(&[
        "features",
        "from-joints",
        "--joints",
        joints.to_str().unwrap(),
        "--out",
        "/nonexistent-dir/x.npy",
    ]);
    assert_one_line_error(&o, 1, &["/nonexistent-dir/x.npy"]);
    assert!(
        !std::path::Path::new(out).exists(),
        "nothing written on failure"
    );
    let o = keta(&["features", "from-joints", "--joints"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}
