//! `keta decompose`.

use crate::util::{assert_one_line_error, keta, keta_ok, stderr, stdout};

#[test]
fn one_caption_as_lines_and_as_exactly_one_json_object() {
    let o = keta_ok(&["decompose", "A man walks forward, then jumps twice."]);
    assert_eq!(
        stdout(&o),
        "a man walks forward\na man jumps\na man jumps\n"
    );
    let o = keta_ok(&[
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
    keta_ok(&[
        "data",
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--count",
        "10",
    ]);
    let o = keta(&["decompose", "--data", out.to_str().unwrap(), "--json"]);
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
    let distinct: std::collections::HashSet<&str> = cache.lines().collect();
    assert!(distinct.len() as u64 <= captions && !distinct.is_empty());
    // A corrupt cache is rebuilt with a warning, never a crash; a second run finds everything cached.
    std::fs::write(out.join("decompositions/rules-none.jsonl"), "{broken\n").unwrap();
    let o = keta_ok(&["decompose", "--data", out.to_str().unwrap(), "--json"]);
    assert!(
        o.status.success() && stderr(&o).contains("unreadable line"),
        "{}",
        stderr(&o)
    );
    let o = keta(&["decompose", "--data", out.to_str().unwrap(), "--json"]);
    let again: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(again["new"], 0);
    assert_eq!(again["text_accuracy"], v["text_accuracy"]);
    let cache = std::fs::read_to_string(out.join("decompositions/rules-none.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(cache.lines().next().unwrap()).unwrap();
    assert!(first["sentences"].as_array().is_some_and(|s| !s.is_empty()));
}

#[test]
fn the_llm_backend_without_a_server_falls_back_with_a_warning_and_a_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let o = keta(&[
        "decompose",
        "a man walks, then jumps",
        "--backend",
        "llm",
        "--llm-endpoint",
        &down,
        "--llm-model",
        "tiny",
        "--json",
    ]);
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("the rules answered"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["backend"], "llm");
    assert_eq!(v["model"], "tiny");
    assert!(v["fallback"]
        .as_str()
        .unwrap()
        .contains("could not be reached"));
    assert_eq!(
        v["sentences"],
        serde_json::json!(["a man walks", "a man jumps"])
    );
    let o = keta(&["decompose", "x", "--backend", "llm"]);
    assert_one_line_error(&o, 1, &["--llm-endpoint"]);
}
