//! `keta data synth` and `keta render`.

use crate::util::{assert_one_line_error, keta, stderr, stdout};

#[test]
fn synth_makes_a_folder_that_checks_clean_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synth");
    let o = keta(&[
        "data",
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--count",
        "20",
        "--seed",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 20 clips"), "{}", stderr(&o));
    let o = keta(&["data", "check", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("motions: 20 named, 20 readable, 20 inside the 40..200-row filter"));

    // The same seed gives the same files.
    let again = tmp.path().join("again");
    assert!(keta(&[
        "data",
        "synth",
        "--out",
        again.to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "4"
    ])
    .status
    .success());
    for f in [
        "new_joint_vecs/000002.npy",
        "texts/000002.txt",
        "texts/000002.json",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }

    let joints = out.join("new_joints/000000.npy");
    for name in ["strip.png", "motion.gif"] {
        let path = tmp.path().join(name);
        let o = keta(&[
            "render",
            "--joints",
            joints.to_str().unwrap(),
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let o = keta(&[
        "render",
        "--joints",
        joints.to_str().unwrap(),
        "--out",
        tmp.path().join("m.bvh").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 1, &["m.bvh", "BVH export is not built yet"]);
}

#[test]
fn absurd_requests_are_refused_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    assert_one_line_error(
        &keta(&[
            "data",
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--count",
            "0",
        ]),
        1,
        &["--count 0"],
    );
    assert_eq!(
        keta(&[
            "data",
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--count",
            "-3"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    assert_one_line_error(
        &keta(&[
            "data",
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--count",
            "2",
        ]),
        1,
        &["not empty"],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
}
