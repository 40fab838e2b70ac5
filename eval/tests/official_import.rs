//! Import of the official evaluator: scripts/evaluator_reference.py builds the reference PyTorch
//! networks with random weights, a fake finest.tar and vocabulary, converts them with
//! scripts/convert_evaluator.py and writes reference embeddings; ours must match within 1e-4.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::ReadNpyExt;
use tch::{Device, Tensor};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn npy<A: ReadNpyExt>(path: &Path) -> A {
    A::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

fn max_diff(ours: &Tensor, reference: Array2<f32>) -> f64 {
    let (n, e) = reference.dim();
    let reference = Tensor::from_slice(reference.as_slice().unwrap()).view([n as i64, e as i64]);
    // Distinct, non-trivial rows: a constant output would match nothing by accident.
    assert!(reference.std(true).double_value(&[]) > 0.1);
    (ours - reference).abs().max().double_value(&[])
}

#[test]
fn converted_official_evaluator_matches_pytorch() {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh to create the project venv (torch, numpy)",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(&python)
        .arg(repo().join("scripts/evaluator_reference.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/evaluator_reference.py failed");

    let ev = eval::Evaluator::load(&dir.path().join("converted"), Device::Cpu).unwrap();
    assert_eq!(ev.origin(), "humanml3d");
    assert_eq!(ev.config().word_dim, 6);

    let motions: Array3<f32> = npy(&dir.path().join("motions.npy"));
    let (n, t, f) = motions.dim();
    let motions =
        Tensor::from_slice(motions.as_slice().unwrap()).view([n as i64, t as i64, f as i64]);
    let lengths: Array1<i64> = npy(&dir.path().join("motion_lengths.npy"));
    let lengths: Vec<usize> = lengths.iter().map(|&l| l as usize).collect();
    let ours = ev.encode_motions(&motions, &lengths).unwrap();
    let d = max_diff(&ours, npy(&dir.path().join("motion_emb.npy")));
    assert!(d < 1e-4, "motion embeddings differ by {d}");

    let tokens: Vec<Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokens.json")).unwrap())
            .unwrap();
    let ours = ev.encode_tokens(&tokens).unwrap();
    let d = max_diff(&ours, npy(&dir.path().join("text_emb.npy")));
    assert!(d < 1e-4, "text embeddings differ by {d}");
}
