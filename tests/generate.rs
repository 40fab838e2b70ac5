//! `keta generate` input validation, and its honesty while no model ships.

use crate::util::{assert_one_line_error, keta, stdout};

#[test]
fn bad_text_and_lengths_are_refused() {
    assert_one_line_error(
        &keta(&["generate", "--text", "   "]),
        1,
        &["--text is empty"],
    );
    let long = "walk ".repeat(300);
    assert_one_line_error(
        &keta(&["generate", "--text", &long]),
        1,
        &["1500 characters", "longer than 1000"],
    );
    assert_one_line_error(
        &keta(&["generate", "--text", "a man walks", "--seconds=-2"]),
        1,
        &["--seconds -2"],
    );
    assert_one_line_error(
        &keta(&["generate", "--text", "a man walks", "--seconds", "NaN"]),
        1,
        &["--seconds NaN"],
    );
    assert_eq!(keta(&["generate"]).status.code(), Some(2));
}

#[test]
fn without_a_model_it_says_so_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = keta(&[
        "generate",
        "--text",
        "a person walks forward",
        "--model",
        tmp.path().to_str().unwrap(),
    ]);
    assert_one_line_error(&o, 1, &["no trained model", "no motion was generated"]);
    assert!(
        crate::util::stderr(&o).contains("  - a person walks forward"),
        "the decomposition is shown"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        &["generate"][..],
        &["features", "to-joints"],
        &["features", "from-joints"],
        &["data", "check"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = keta(&args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Example:"), "{cmd:?}");
    }
}
