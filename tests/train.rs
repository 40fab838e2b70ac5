//! `keta train mdm` on a tiny synthetic set (checkpoints, logs, refusals, resume), the aligner and
//! KETA's decoder, and `keta model pack`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{
    assert_one_line_error, keta, keta_ok, max_abs_diff, read_f32, s, snapshot, stderr,
};

/// `keta data synth --out DIR/data --count 40 --seed 1`.
fn synth(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    keta_ok(&[
        "data",
        "synth",
        "--out",
        s(&data),
        "--count",
        "40",
        "--seed",
        "1",
    ]);
    data
}

fn tiny_config() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// configs/tiny.json with frequent logs and checkpoints and short clips (20..60 rows: 1 to 3 s).
fn write_fast_config(path: &Path, edit: impl Fn(&mut Value)) {
    let mut cfg = tiny_config();
    cfg["log_every"] = 2.into();
    cfg["val_every"] = 3.into();
    cfg["ckpt_every"] = 4.into();
    cfg["keep_checkpoints"] = 2.into();
    cfg["min_rows"] = 20.into();
    cfg["max_rows"] = 60.into();
    edit(&mut cfg);
    std::fs::write(path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
}

fn train(data: &Path, run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "mdm",
        "--data",
        s(data),
        "--out",
        s(run),
        "--device",
        "cpu",
    ];
    args.extend(extra);
    keta(&args)
}

fn train_ok(data: &Path, run: &Path, extra: &[&str]) -> String {
    let o = train(data, run, extra);
    assert!(o.status.success(), "keta train {extra:?}: {}", stderr(&o));
    stderr(&o)
}

/// `ckpt-<step>` folders of a run, sorted by step.
fn checkpoints(run: &Path) -> Vec<String> {
    let mut v: Vec<(u64, String)> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| Some((n.strip_prefix("ckpt-")?.parse().ok()?, n.clone())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (steps of the training-loss records, steps of the validation records) of train_log.jsonl,
/// checking that every loss is finite and positive.
fn log_steps(run: &Path) -> (Vec<u64>, Vec<u64>) {
    let text = std::fs::read_to_string(run.join("train_log.jsonl")).unwrap();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let step = r["step"].as_u64().unwrap();
        for (key, steps) in [("loss", &mut train), ("val_loss", &mut val)] {
            if !r[key].is_null() {
                let v = r[key].as_f64().unwrap_or(f64::NAN);
                assert!(v.is_finite() && v > 0.0, "{key} in {line}");
                steps.push(step);
            }
        }
    }
    (train, val)
}

const CKPT_FILES: [&str; 7] = [
    "Mean.npy",
    "Std.npy",
    "config.json",
    "optimizer.safetensors",
    "train_state.json",
    "train_weights.safetensors",
    "weights.safetensors",
];

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_tiny_run_checkpoints_logs_refuses_a_rerun_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(tmp.path());
    let cfg = tmp.path().join("fast.json");
    write_fast_config(&cfg, |_| {});
    let run = tmp.path().join("run");

    train_ok(&data, &run, &["--config", s(&cfg), "--steps", "6"]);
    assert_eq!(
        files(&run),
        ["ckpt-4", "ckpt-6", "latest", "loss.png", "train_log.jsonl"]
    );
    assert_eq!(
        std::fs::read_to_string(run.join("latest")).unwrap().trim(),
        "ckpt-6"
    );
    for ckpt in ["ckpt-4", "ckpt-6"] {
        assert_eq!(files(&run.join(ckpt)), CKPT_FILES, "{ckpt}");
    }
    let ckpt = run.join("ckpt-6");
    assert_eq!(read_json(&ckpt.join("train_state.json"))["step"], 6);
    let card = read_json(&ckpt.join("config.json"));
    assert_eq!(card["model"]["d_model"], tiny_config()["model"]["d_model"]);
    assert_eq!(card["motion"]["min_rows"], 20);
    assert_eq!(card["motion"]["max_rows"], 60);
    assert_eq!(card["training"]["batch_size"], tiny_config()["batch_size"]);
    // Normalisation statistics: 263 finite values, standard deviations positive.
    let std = read_f32(&ckpt.join("Std.npy"));
    assert_eq!(std.shape(), [263]);
    assert!(std.iter().all(|v| v.is_finite() && *v > 0.0));
    assert_eq!(read_f32(&ckpt.join("Mean.npy")).shape(), [263]);
    assert_eq!(log_steps(&run), (vec![2, 4, 6], vec![3, 6]));
    assert_eq!(
        &std::fs::read(run.join("loss.png")).unwrap()[..4],
        b"\x89PNG"
    );

    // Training again into the same folder needs --resume, and changes nothing.
    let before = snapshot(&run);
    assert_one_line_error(
        &train(&data, &run, &["--config", s(&cfg), "--steps", "6"]),
        1,
        &[s(&run), "--resume"],
    );
    // A resume whose config differs from the checkpoint's is refused, naming the field.
    let other = tmp.path().join("other.json");
    write_fast_config(&other, |c| c["batch_size"] = 8.into());
    assert_one_line_error(
        &train(
            &data,
            &run,
            &["--config", s(&other), "--steps", "10", "--resume"],
        ),
        1,
        &["--resume", "batch_size"],
    );
    assert_eq!(
        snapshot(&run),
        before,
        "a refused run changed the run folder"
    );

    // --resume continues from `latest` with the checkpoint's config, up to the new step count.
    let err = train_ok(&data, &run, &["--resume", "--steps", "10"]);
    assert!(err.contains("resuming at step 6"), "{err}");
    assert_eq!(
        checkpoints(&run),
        ["ckpt-8", "ckpt-10"],
        "keep_checkpoints 2"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("latest")).unwrap().trim(),
        "ckpt-10"
    );
    // Logs every 2 steps, validation every 3 and at the end; the resumed part is appended.
    assert_eq!(log_steps(&run), (vec![2, 4, 6, 8, 10], vec![3, 6, 9, 10]));
    assert_eq!(read_json(&run.join("ckpt-10/train_state.json"))["step"], 10);
    // A resume whose --steps is already reached says so instead of "training" zero steps.
    let before = snapshot(&run);
    assert_one_line_error(
        &keta(&[
            "train",
            "mdm",
            "--data",
            s(&data),
            "--out",
            s(&run),
            "--resume",
            "--steps",
            "4",
            "--device",
            "cpu",
        ]),
        1,
        &["is at step 10", "--steps 4", "nothing to train"],
    );
    assert_eq!(snapshot(&run), before);

    // The run folder loads in generate (its latest checkpoint); its seconds range is 1 to 3 s.
    let out = tmp.path().join("g");
    let gen = |seconds: &str| {
        keta(&[
            "generate",
            "--model",
            s(&run),
            "--text",
            "a person jumps",
            "--seconds",
            seconds,
            "--steps",
            "5",
            "--device",
            "cpu",
            "--format",
            "npy",
            "--out",
            s(&out),
        ])
    };
    assert_one_line_error(&gen("4"), 1, &["--seconds 4", "1.00 to 3.00 s"]);
    let o = gen("2");
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_f32(&out.join("sample_0/joints.npy"));
    assert_eq!(j.shape(), [40, 22, 3]);
    assert!(j.iter().all(|v| v.is_finite()));
    let sm = read_json(&out.join("sample_0/summary.json"));
    assert!(
        sm["model"].as_str().unwrap().ends_with("ckpt-10"),
        "{}",
        sm["model"]
    );
}

#[test]
fn bad_training_requests_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(tmp.path());
    let run = tmp.path().join("run");
    let bad = |extra: &[&str], needles: &[&str]| {
        assert_one_line_error(&train(&data, &run, extra), 1, needles);
        assert!(!run.exists(), "{extra:?} created {}", run.display());
    };
    let unknown = tmp.path().join("unknown.json");
    write_fast_config(&unknown, |c| c["learning_rate"] = 0.1.into());
    bad(&["--config", s(&unknown)], &[s(&unknown), "learning_rate"]);
    let too_long = tmp.path().join("too-long.json");
    write_fast_config(&too_long, |c| c["max_rows"] = 300.into());
    bad(&["--config", s(&too_long)], &["max_rows 300", "max_frames"]);
    let missing = tmp.path().join("missing.json");
    bad(&["--config", s(&missing)], &[s(&missing)]);
    bad(&["--resume"], &["--resume", s(&run)]);
    bad(&["--gpus", "2"], &["--gpus 2", "drop --device cpu"]);
    bad(
        &["--gpus", "2", "--nodes", "2", "--node-rank", "2"],
        &["--node-rank 2", "--nodes 2"],
    );
    bad(&["--rendezvous", "host:1234"], &["--rendezvous", "--nodes"]);
    // Without --device cpu: this machine has no GPU to give.
    let o = keta(&[
        "train",
        "mdm",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--gpus",
        "2",
    ]);
    assert_one_line_error(&o, 1, &["--gpus 2", "0 CUDA device(s)"]);
    assert!(!run.exists());
    bad(&["--lambda-kp", "0.5"], &["lambda_kp 0.5", "--aligner"]);
    bad(
        &["--aligner", s(&missing)],
        &["--aligner is used by --lambda-kp"],
    );
    bad(
        &["--lambda-kp", "0.5", "--aligner", s(&missing)],
        &["--aligner", s(&missing)],
    );
    let nowhere = tmp.path().join("no-data");
    assert_one_line_error(&train(&nowhere, &run, &["--steps", "2"]), 1, &[s(&nowhere)]);
    assert!(!run.exists());
}

/// The aligner trains on rules sub-sentences of the synthetic captions, logs a validation loss and
/// retrieval accuracy, checkpoints, and resumes onto the same loss curve as an uninterrupted run.
#[test]
fn the_aligner_trains_checkpoints_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(tmp.path());
    let cfg = tmp.path().join("aligner.json");
    std::fs::write(
        &cfg,
        r#"{"model": {"text_hidden": [64], "d_model": 32, "heads": 2, "ffn": 64, "head_hidden": 16},
            "batch_size": 8, "min_rows": 20, "max_rows": 60, "log_every": 2, "val_every": 3,
            "val_batches": 2, "ckpt_every": 3, "keep_checkpoints": 2}"#,
    )
    .unwrap();
    let aligner = |run: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "aligner",
            "--data",
            s(&data),
            "--out",
            s(run),
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        keta(&args)
    };
    let whole = tmp.path().join("whole");
    let o = aligner(&whole, &["--config", s(&cfg), "--steps", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(checkpoints(&whole), ["ckpt-3", "ckpt-6"]);
    let card = read_json(&whole.join("ckpt-6/config.json"));
    assert_eq!(card["max_sentences"], 8);
    assert_eq!(card["kp_tau"].as_array().unwrap().len(), 5);
    let log = std::fs::read_to_string(whole.join("train_log.jsonl")).unwrap();
    let retrieval: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["val_retrieval"].as_f64())
        .collect();
    assert_eq!(retrieval.len(), 2);
    assert!(retrieval.iter().all(|r| (0.0..=1.0).contains(r)));
    // The synthetic set's ground-truth segments give the Gaussian-centre hit rate and its baseline.
    for key in ["val_centre_hits", "val_window_middle_hits"] {
        let rates: Vec<f64> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()[key].as_f64())
            .collect();
        assert_eq!(rates.len(), 2, "{key} in {log}");
        assert!(
            rates.iter().all(|r| (0.0..=1.0).contains(r)),
            "{key}: {rates:?}"
        );
    }
    // Again without --resume: refused, nothing changed.
    let before = snapshot(&whole);
    assert_one_line_error(&aligner(&whole, &["--steps", "8"]), 1, &["--resume"]);
    assert_eq!(snapshot(&whole), before);
    // Interrupted at 3, resumed to 6: the same weights and step-6 records as the uninterrupted run
    // (the log intervals around the interruption differ: a run logs at its last step).
    let split = tmp.path().join("split");
    assert!(aligner(&split, &["--config", s(&cfg), "--steps", "3"])
        .status
        .success());
    let o = aligner(&split, &["--resume", "--steps", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let weights = |run: &Path| std::fs::read(run.join("ckpt-6/weights.safetensors")).unwrap();
    assert!(
        weights(&whole) == weights(&split),
        "resume changed the weights"
    );
    // The last two records, less the measured speed.
    let tail = |text: &str| {
        text.lines()
            .rev()
            .take(2)
            .map(|l| {
                let mut r: Value = serde_json::from_str(l).unwrap();
                r.as_object_mut().unwrap().remove("steps_per_s");
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tail(&std::fs::read_to_string(split.join("train_log.jsonl")).unwrap()),
        tail(&log)
    );
    // The trained aligner drives the denoiser's auxiliary loss (KETA): logged, recorded in the card.
    let mdm = tmp.path().join("mdm");
    let fast = tmp.path().join("fast.json");
    write_fast_config(&fast, |_| {});
    let err = train_ok(
        &data,
        &mdm,
        &[
            "--config",
            s(&fast),
            "--steps",
            "4",
            "--lambda-kp",
            "0.01",
            "--aligner",
            s(&whole),
        ],
    );
    assert!(err.contains("sub-sentences"), "{err}");
    let log = std::fs::read_to_string(mdm.join("train_log.jsonl")).unwrap();
    let aux: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["aux_loss"].as_f64())
        .collect();
    assert!(
        !aux.is_empty() && aux.iter().all(|v| v.is_finite() && *v > 0.0),
        "{log}"
    );
    let card = read_json(&mdm.join("ckpt-4/config.json"));
    assert_eq!(card["kp_tau"].as_array().unwrap().len(), 5);
    assert_eq!(card["training"]["lambda_kp"], 0.01);
    assert!(mdm.join("ckpt-4/aligner/weights.safetensors").is_file());

    // KETA's decoder: guide tokens in training, then at every sampling step and in two refinement
    // rounds whose text-KP distances land in summary.json; `model pack` keeps the aligner.
    let decoder = tmp.path().join("decoder");
    let dec_cfg = tmp.path().join("decoder.json");
    write_fast_config(&dec_cfg, |c| {
        c["model"]["variant"] = "decoder".into();
        c["model"]["guide_tokens"] = true.into();
        c["model"]["max_sentences"] = 4.into();
    });
    let dec_args = ["--config", s(&dec_cfg), "--steps", "4"];
    assert_one_line_error(
        &train(&data, &decoder, &dec_args),
        1,
        &["guide tokens", "--aligner"],
    );
    let mut with_aligner = dec_args.to_vec();
    with_aligner.extend(["--aligner", s(&whole)]);
    let err = train_ok(&data, &decoder, &with_aligner);
    assert!(err.contains("with guide tokens"), "{err}");
    let packed = tmp.path().join("decoder-packed");
    keta_ok(&["model", "pack", "--from", s(&decoder), "--out", s(&packed)]);
    assert!(packed.join("aligner/config.json").is_file());
    let out = tmp.path().join("refined");
    let o = keta_ok(&[
        "generate",
        "--model",
        s(&packed),
        "--text",
        "a person walks forward, then jumps",
        "--seconds",
        "2",
        "--steps",
        "6",
        "--refine-rounds",
        "2",
        "--refine-from",
        "x0",
        "--format",
        "npy",
        "--device",
        "cpu",
        "--out",
        s(&out),
    ]);
    let o = stderr(&o);
    assert!(o.contains("text-KP distance"), "{o}");
    let summary = read_json(&out.join("sample_0/summary.json"));
    let rounds = summary["text_kp_distance_per_round"].as_array().unwrap();
    assert_eq!(rounds.len(), 3, "{summary}");
    assert!(rounds.iter().all(|d| d.as_f64().unwrap().is_finite()));
    assert_eq!(summary["refine_from"], "x0");
    assert_eq!(summary["sub_sentences"].as_array().unwrap().len(), 2);
    // Flags that belong to `train mdm` are refused.
    assert_one_line_error(
        &aligner(&split, &["--resume", "--lambda-kp", "0.001"]),
        1,
        &["--lambda-kp"],
    );
}

/// dtypes of the tensors in a safetensors file (its JSON header).
fn safetensors_dtypes(path: &Path) -> Vec<String> {
    let b = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&b[8..8 + n]).unwrap();
    let mut v: Vec<String> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, t)| t["dtype"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn pack_writes_a_small_fp16_model_that_generates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synth(tmp.path());
    let run = tmp.path().join("run");
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json");
    train_ok(&data, &run, &["--config", s(&tiny), "--steps", "4"]);
    let ckpt = run.join("ckpt-4");

    let p16 = tmp.path().join("p16");
    keta_ok(&["model", "pack", "--from", s(&run), "--out", s(&p16)]);
    assert_eq!(
        files(&p16),
        ["Mean.npy", "Std.npy", "config.json", "weights.safetensors"]
    );
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let (packed, full) = (
        size(&p16.join("weights.safetensors")),
        size(&ckpt.join("weights.safetensors")),
    );
    assert!(packed * 10 < full * 6, "fp16 {packed} B vs fp32 {full} B");
    assert_eq!(
        safetensors_dtypes(&p16.join("weights.safetensors")),
        ["F16"]
    );
    assert_eq!(
        safetensors_dtypes(&ckpt.join("weights.safetensors")),
        ["F32"]
    );
    for f in ["Mean.npy", "Std.npy"] {
        assert_eq!(
            std::fs::read(p16.join(f)).unwrap(),
            std::fs::read(ckpt.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        read_json(&p16.join("config.json"))["model"],
        read_json(&ckpt.join("config.json"))["model"]
    );

    let p32 = tmp.path().join("p32");
    keta_ok(&[
        "model",
        "pack",
        "--from",
        s(&ckpt),
        "--out",
        s(&p32),
        "--dtype",
        "f32",
    ]);
    assert_eq!(
        safetensors_dtypes(&p32.join("weights.safetensors")),
        ["F32"]
    );

    // The same seed through each: f32 packing is exact, f16 close.
    let gen = |model: &Path, name: &str| {
        let out = tmp.path().join(name);
        keta_ok(&[
            "generate",
            "--model",
            s(model),
            "--text",
            "a person jumps",
            "--seconds",
            "2",
            "--steps",
            "5",
            "--seed",
            "3",
            "--device",
            "cpu",
            "--format",
            "npy",
            "--out",
            s(&out),
        ]);
        out.join("sample_0/joints.npy")
    };
    let (from_run, from_p32, from_p16) = (gen(&run, "g"), gen(&p32, "g32"), gen(&p16, "g16"));
    assert_eq!(
        std::fs::read(&from_run).unwrap(),
        std::fs::read(&from_p32).unwrap()
    );
    let d = max_abs_diff(&read_f32(&from_run), &read_f32(&from_p16));
    assert!(d < 0.05, "fp16 weights moved a joint by {d} m");

    // Packing into a non-empty folder, or from nothing, is refused.
    let before = snapshot(&p16);
    let o = keta(&["model", "pack", "--from", s(&run), "--out", s(&p16)]);
    assert_one_line_error(&o, 1, &[s(&p16), "not empty"]);
    assert_eq!(snapshot(&p16), before);
    let nothing = tmp.path().join("nothing");
    let fresh = tmp.path().join("fresh");
    let o = keta(&["model", "pack", "--from", s(&nothing), "--out", s(&fresh)]);
    assert_one_line_error(&o, 1, &[s(&nothing)]);
    assert!(!fresh.exists());
}
