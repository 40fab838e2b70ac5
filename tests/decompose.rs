//! `keta decompose`.

use crate::util::{assert_one_line_error, keta, stderr, stdout};

#[test]
fn one_caption_as_lines_and_as_exactly_one_json_object() {
    let o = keta(&["decompose", "A man walks forward, then jumps twice."]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "a man walks forward\na man jumps\na man jumps\n"
    );
    let o = keta(&[
        "decompose",
        "Before jumping up, a man walks forward.",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(stdout(&o).trim().lines().count(), 1);
    assert_eq!(v["backend"], "rules");
    assert_eq!(v["caption"], "Before jumping up, a man walks forward.");
    assert!(v["model"].is_null() && v["fallback"].is_null());
    assert_eq!(
        v["sentences"],
        serde_json::json!(["a man walks forward", "a man jumps up"])
    );
}

#[test]
fn bad_captions_are_refused() {
    assert_one_line_error(&keta(&["decompose", "   "]), 1, &["caption is empty"]);
    let long = "a man walks ".repeat(100);
    assert_one_line_error(
        &keta(&["decompose", &long]),
        1,
        &["1200 characters", "at most 1000"],
    );
    assert_eq!(keta(&["decompose"]).status.code(), Some(2));
}

#[test]
fn a_synthetic_folder_is_decomposed_cached_and_scored() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synth");
    assert!(keta(&[
        "data",
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--count",
        "10"
    ])
    .status
    .success());
    let o = keta(&["decompose", "--data", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let captions = v["captions"].as_u64().unwrap();
    assert!(captions >= 30);
    assert_eq!(
        v["scored"].as_u64().unwrap(),
        captions,
        "every synthetic caption has ground truth"
    );
    let acc = v["text_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let cache = std::fs::read_to_string(out.join("decompositions/rules-none.jsonl")).unwrap();
    assert_eq!(cache.lines().count() as u64, captions);
    let first: serde_json::Value = serde_json::from_str(cache.lines().next().unwrap()).unwrap();
    assert!(first["sentences"].as_array().is_some_and(|s| !s.is_empty()));
}
