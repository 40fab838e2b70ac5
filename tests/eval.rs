//! `keta train evaluator` and `keta eval` on a small synthetic set: the evaluator trains, resumes
//! onto the uninterrupted run's weights, and scores a model with every metric beside the real clips;
//! too small a test split and a missing evaluator are refused.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{assert_one_line_error, keta, keta_ok, s, stderr, stdout};

fn synth(dir: &Path, count: &str) -> PathBuf {
    let data = dir.join(format!("data-{count}"));
    keta_ok(&[
        "data",
        "synth",
        "--out",
        s(&data),
        "--count",
        count,
        "--seed",
        "3",
    ]);
    data
}

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/evaluator-tiny.json")
}

fn train_evaluator(data: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "evaluator",
        "--data",
        s(data),
        "--out",
        s(out),
        "--device",
        "cpu",
    ];
    args.extend(extra);
    stderr(&keta_ok(&args))
}

fn weights(ckpt: &Path) -> Vec<(String, tch::Tensor)> {
    let mut w = tch::Tensor::read_safetensors(ckpt.join("weights.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

#[test]
fn the_evaluator_trains_resumes_and_scores_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(tmp.path(), "400");
    let cfg = config();
    // Uninterrupted: 10 steps. Interrupted: 6, then resumed to 10. Same weights.
    let whole = tmp.path().join("whole");
    let err = train_evaluator(&data, &whole, &["--config", s(&cfg), "--steps", "10"]);
    assert!(err.contains("our own, 50-d GloVe"), "{err}");
    let split = tmp.path().join("split");
    train_evaluator(&data, &split, &["--config", s(&cfg), "--steps", "6"]);
    let err = train_evaluator(&data, &split, &["--resume", "--steps", "10"]);
    assert!(err.contains("resuming at step 6"), "{err}");
    for ((ka, a), (kb, b)) in weights(&whole.join("ckpt-10"))
        .iter()
        .zip(weights(&split.join("ckpt-10")).iter())
    {
        assert_eq!(ka, kb);
        assert!(a.equal(b), "{ka} differs after resume");
    }
    let log = std::fs::read_to_string(split.join("train_log.jsonl")).unwrap();
    assert!(log.contains("val_top3"), "{log}");
    assert!(split.join("loss.png").is_file());

    // A tiny denoiser, scored.
    let mdm = tmp.path().join("mdm");
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json");
    keta_ok(&[
        "train",
        "mdm",
        "--data",
        s(&data),
        "--out",
        s(&mdm),
        "--config",
        s(&tiny),
        "--steps",
        "4",
        "--device",
        "cpu",
    ]);
    let report = tmp.path().join("reports/eval.json");
    let eval = |evaluator: &Path, data: &Path| {
        keta(&[
            "eval",
            "--model",
            s(&mdm),
            "--data",
            s(data),
            "--evaluator",
            s(evaluator),
            "--replications",
            "2",
            "--mm-replications",
            "0",
            "--kp-replications",
            "1",
            "--max-motions",
            "32",
            "--steps",
            "3",
            "--device",
            "cpu",
            "--out",
            s(&report),
        ])
    };
    let o = eval(&whole, &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("| real test clips |"), "{}", stdout(&o));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let r = &json["report"];
    assert_eq!(r["evaluator"], "keta");
    assert_eq!(r["replications"], 2);
    assert_eq!(r["motions_per_replication"], 32);
    for row in ["ground_truth", "model"] {
        for metric in [
            "r_precision_top1",
            "r_precision_top3",
            "fid",
            "mm_dist",
            "diversity",
        ] {
            let m = &r[row][metric];
            assert_eq!(m["values"].as_array().unwrap().len(), 2, "{row} {metric}");
            assert!(m["mean"].as_f64().unwrap().is_finite(), "{row} {metric}");
        }
    }
    assert_eq!(r["model"]["kp_accuracy"]["count"], 1);
    assert!(r["model"]["multimodality"].is_null());
    assert_eq!(r["model"]["non_finite_motions"], 0);
    assert!(report.with_extension("md").is_file());

    // Refusals: no evaluator there; a test split smaller than one batch of 32.
    let nowhere = tmp.path().join("no-evaluator");
    assert_one_line_error(&eval(&nowhere, &data), 1, &["keta train evaluator"]);
    let small = synth(tmp.path(), "40");
    assert_one_line_error(&eval(&whole, &small), 1, &["32"]);
}
