//! Helpers: run the built binary, find the shared fixtures, read .npy files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// Runs `keta args...` and returns its output.
pub fn keta(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keta"))
        .args(args)
        .output()
        .expect("keta runs")
}

/// Runs `keta args...` with `dir` as the working directory.
pub fn keta_in(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keta"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("keta runs")
}

/// Runs `keta args...` and asserts it succeeded, showing its stderr if not.
pub fn keta_ok(args: &[&str]) -> Output {
    let o = keta(args);
    assert!(
        o.status.success(),
        "keta {}: {}",
        args.join(" "),
        stderr(&o)
    );
    o
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `../shared/fixtures/<name>`, beside the repository.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(name)
}

pub fn read_f32(path: &Path) -> ArrayD<f32> {
    ArrayD::<f32>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

pub fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `path` as `&str` (the temp folders of the tests are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The shipped model folder, `models/default/`.
pub fn default_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

/// Every folder (None) and file (its bytes) under `dir`, by relative path: to show that a refused
/// command changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts a failed run with `code` whose stderr ends with one `keta: error:` line containing
/// `needles` (nothing follows it: the message is one line).
pub fn assert_one_line_error(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("keta: error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert_eq!(
        err.lines().rfind(|l| !l.trim().is_empty()),
        Some(line),
        "the error is not one last line: {err}"
    );
    for n in needles {
        assert!(line.contains(n), "{line:?} lacks {n:?}");
    }
}
