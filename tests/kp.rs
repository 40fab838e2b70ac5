//! `keta kp extract | explain | prompts`.

use crate::util::{assert_one_line_error, fixture, keta, keta_ok, read_f32, stdout};

#[test]
fn extract_writes_sign_and_soft_phrases_matching_the_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("kp.npy");
    let joints = fixture("random_b.joints.npy");
    keta_ok(&[
        "kp",
        "extract",
        "--joints",
        joints.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let ours = read_f32(&out);
    let want = read_f32(&fixture("random_b.kp_sign.npy"));
    let raw = read_f32(&fixture("random_b.kp_raw.npy"));
    assert_eq!(ours.shape(), &[177, 392]);
    let differ = ours
        .iter()
        .zip(want.iter())
        .zip(raw.iter())
        .filter(|((a, b), r)| a != b && ((r.abs() - 1e-3).abs() > 1e-6))
        .count();
    assert_eq!(differ, 0);

    keta_ok(&[
        "kp",
        "extract",
        "--joints",
        joints.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--mode",
        "soft",
    ]);
    let soft = read_f32(&out);
    assert!(soft.iter().all(|v| v.abs() < 1.0) && soft.iter().any(|v| v.abs() > 0.5));
}

#[test]
fn explain_prints_the_rising_wrist_and_draws_a_heat_map() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("kp.png");
    let o = keta_ok(&[
        "kp",
        "explain",
        "--joints",
        fixture("left_wrist_rise.joints.npy").to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(out.contains("40 frames (2.00 s at 20 fps)"), "{out}");
    assert!(
        out.contains("0.55-1.55 s: the left wrist moves upwards"),
        "{out}"
    );
    assert!(
        !out.contains("right wrist moves"),
        "nothing else moves: {out}"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn prompts_reproduce_the_committed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("prompts.json");
    keta_ok(&["kp", "prompts", "--out", out.to_str().unwrap()]);
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kp/prompts/kp-prompts-v1.json");
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(committed).unwrap()
    );
}

#[test]
fn bad_joints_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("kp.npy");
    let o = keta(&[
        "kp",
        "extract",
        "--joints",
        fixture("tpose.features.npy").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 1, &["tpose.features.npy", "[T, 22, 3]"]);
    let one = tmp.path().join("one.npy");
    let frame = read_f32(&fixture("tpose.joints.npy"))
        .slice_move(ndarray::s![0..1, .., ..])
        .into_dyn();
    ndarray_npy::WriteNpyExt::write_npy(&frame, std::fs::File::create(&one).unwrap()).unwrap();
    let o = keta(&["kp", "explain", "--joints", one.to_str().unwrap()]);
    assert_one_line_error(&o, 1, &["one.npy", "length of 1"]);
    assert!(!out.exists());
}
