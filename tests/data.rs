//! `keta data check` on a folder made from the fixtures with `keta features`.

use std::path::Path;

use crate::util::{assert_one_line_error, fixture, keta, keta_ok, stdout};

fn make_folder(dir: &Path) {
    for sub in ["new_joint_vecs", "texts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (id, name) in [
        ("000001", "random_a"),
        ("000002", "random_b"),
        ("000003", "walk_forward"),
    ] {
        let out = dir.join("new_joint_vecs").join(format!("{id}.npy"));
        keta_ok(&[
            "features",
            "from-joints",
            "--joints",
            fixture(&format!("{name}.joints.npy")).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        std::fs::write(
            dir.join("texts").join(format!("{id}.txt")),
            format!("a person moves ({name})#a/DET person/NOUN#0.0#0.0\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("train.txt"), "000001\n000002\n").unwrap();
    std::fs::write(dir.join("val.txt"), "000003\n").unwrap();
    std::fs::write(dir.join("test.txt"), "000003\n").unwrap();
}

#[test]
fn a_clean_folder_reports_counts_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    make_folder(tmp.path());
    let o = keta_ok(&["data", "check", tmp.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert!(
        out.contains("motions: 3 named, 3 readable, 3 inside the 40..200-row filter"),
        "{out}"
    );
    assert!(
        out.contains("rows per motion: min 59, median 125, mean 120.0, max 176"),
        "{out}"
    );
    assert!(out.contains("problems: none"), "{out}");
}

#[test]
fn a_broken_folder_lists_each_problem_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    make_folder(tmp.path());
    std::fs::write(tmp.path().join("texts/000002.txt"), "no hashes at all\n").unwrap();
    std::fs::remove_file(tmp.path().join("new_joint_vecs/000003.npy")).unwrap();
    let o = keta(&["data", "check", tmp.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert!(
        out.contains("texts/000002.txt:1: expected `caption#tokens#start#end`"),
        "{out}"
    );
    assert!(
        out.contains("new_joint_vecs/000003.npy: cannot open"),
        "{out}"
    );
    assert_one_line_error(&o, 1, &["2 problem(s)"]);
}

#[test]
fn a_missing_folder_is_a_clear_error() {
    let o = keta(&["data", "check", "/nonexistent-keta-data"]);
    assert_one_line_error(&o, 1, &["/nonexistent-keta-data", "not a folder"]);
}
