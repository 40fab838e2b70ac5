//! `keta data synth` and `keta render`.

use crate::util::{assert_one_line_error, keta, keta_ok, stderr, stdout};

#[test]
fn synth_makes_a_folder_that_checks_clean_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synth");
    let o = keta_ok(&[
        "data",
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--count",
        "20",
        "--seed",
        "4",
    ]);
    assert!(stderr(&o).contains("wrote 20 clips"), "{}", stderr(&o));
    let o = keta_ok(&["data", "check", out.to_str().unwrap()]);
    assert!(stdout(&o).contains("motions: 20 named, 20 readable, 20 inside the 40..200-row filter"));
    // Captions carry HumanML3D's `word/POS` tokens, from the evaluator's tagger.
    let text = std::fs::read_to_string(out.join("texts/000000.txt")).unwrap();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('#').collect();
        assert_eq!(fields.len(), 4, "{line}");
        let words = fields[0].split_whitespace().count();
        let tokens: Vec<&str> = fields[1].split(' ').collect();
        assert!(
            tokens.len() >= words.min(1) && tokens.iter().all(|t| t.contains('/')),
            "{line}"
        );
        assert!(
            tokens.iter().any(|t| t.ends_with("/VERB")),
            "no verb tagged: {line}"
        );
    }

    // The same seed gives the same files.
    let again = tmp.path().join("again");
    keta_ok(&[
        "data",
        "synth",
        "--out",
        again.to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "4",
    ]);
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
        keta_ok(&[
            "render",
            "--joints",
            joints.to_str().unwrap(),
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let o = keta(&[
        "render",
        "--joints",
        joints.to_str().unwrap(),
        "--out",
        tmp.path().join("m.obj").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 1, &["m.obj", "unknown output format"]);
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

#[test]
fn cmu_clips_and_our_bvh_import_as_a_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cmu = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cmu-asfamc");
    // Export a synthetic clip to BVH and import it with two CMU trials.
    let synth = tmp.path().join("synth");
    keta_ok(&[
        "data",
        "synth",
        "--out",
        synth.to_str().unwrap(),
        "--count",
        "1",
    ]);
    let bvh = tmp.path().join("my_walk.bvh");
    keta_ok(&[
        "render",
        "--joints",
        synth.join("new_joints/000000.npy").to_str().unwrap(),
        "--out",
        bvh.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&bvh)
        .unwrap()
        .starts_with("HIERARCHY\nROOT pelvis"));
    let out = tmp.path().join("imported");
    let (a, b) = (cmu.join("02_01.amc"), cmu.join("03_02.amc"));
    let o = keta_ok(&[
        "data",
        "import",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        bvh.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("imported 3 clips"), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("texts/02_01.txt")).unwrap();
    let want = std::fs::read_to_string(cmu.join("descriptions.tsv")).unwrap();
    let description = want
        .lines()
        .find_map(|l| l.strip_prefix("02_01\t"))
        .unwrap();
    assert_eq!(text, format!("{description}##0.0#0.0\n"));
    assert_eq!(
        std::fs::read_to_string(out.join("texts/my_walk.txt")).unwrap(),
        "my walk##0.0#0.0\n"
    );
    let o = keta_ok(&["data", "check", out.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("motions: 3 named, 3 readable"),
        "{}",
        stdout(&o)
    );
    let o = keta(&[
        "data",
        "import",
        tmp.path().join("nothing.bvh").to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 1, &["nothing.bvh", "no such file"]);
}
