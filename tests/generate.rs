//! `keta generate` with the shipped model (models/default/): files, reproducibility, plausibility,
//! and every refusal as one line.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis};
use serde_json::Value;

use crate::util::{
    assert_one_line_error, default_model, keta, keta_in, keta_ok, max_abs_diff, read_f32, s,
    snapshot, stderr, stdout,
};

/// `keta generate --device cpu --out OUT` plus `extra`, with `--steps 5` and `--seconds 2.5` unless
/// `extra` sets them.
fn generate(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate", "--device", "cpu", "--out", s(out)];
    for (flag, default) in [("--steps", "5"), ("--seconds", "2.5")] {
        if !extra.iter().any(|a| a.starts_with(flag)) {
            args.extend([flag, default]);
        }
    }
    args.extend(extra);
    keta(&args)
}

fn generate_ok(out: &Path, extra: &[&str]) {
    let o = generate(out, extra);
    assert!(
        o.status.success(),
        "keta generate {extra:?}: {}",
        stderr(&o)
    );
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Checks a BVH file's structure and returns (joints in the hierarchy, frames, frame time).
fn parse_bvh(path: &Path) -> (usize, usize, f64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("HIERARCHY"));
    let mut joints = 0;
    let mut channels = 0;
    let mut depth = 0i32;
    for line in lines.by_ref() {
        let t = line.trim();
        if t.starts_with("ROOT ") || t.starts_with("JOINT ") {
            joints += 1;
        } else if let Some(n) = t.strip_prefix("CHANNELS ") {
            channels += n
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap();
        } else if t == "{" {
            depth += 1;
        } else if t == "}" {
            depth -= 1;
            assert!(depth >= 0, "unbalanced braces in {}", path.display());
        } else if t == "MOTION" {
            break;
        }
    }
    assert_eq!(depth, 0, "unbalanced braces in {}", path.display());
    let frames: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("Frames:"))
        .expect("Frames: line")
        .trim()
        .parse()
        .unwrap();
    let frame_time: f64 = lines
        .next()
        .and_then(|l| l.strip_prefix("Frame Time:"))
        .expect("Frame Time: line")
        .trim()
        .parse()
        .unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(rows.len(), frames, "motion rows of {}", path.display());
    for row in rows {
        let values: Vec<f64> = row.split_whitespace().map(|v| v.parse().unwrap()).collect();
        assert_eq!(values.len(), channels);
        assert!(values.iter().all(|v| v.is_finite()));
    }
    (joints, frames, frame_time)
}

/// Checks a GIF's header and block structure and returns (width, height, frames).
fn parse_gif(path: &Path) -> (u16, u16, usize) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"GIF89a", "{}", path.display());
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let (w, h) = (u16_at(6), u16_at(8));
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut i = 13 + table(b[10]);
    // Skips data sub-blocks starting at `i`; returns the index after the terminator.
    let skip_blocks = |mut i: usize| {
        while b[i] != 0 {
            i += b[i] as usize + 1;
        }
        i + 1
    };
    let mut frames = 0;
    loop {
        match b[i] {
            0x21 => i = skip_blocks(i + 2),
            0x2C => {
                frames += 1;
                i = skip_blocks(i + 10 + table(b[i + 9]) + 1);
            }
            0x3B => break,
            other => panic!("{}: unexpected GIF block {other:#x} at {i}", path.display()),
        }
    }
    assert_eq!(i + 1, b.len(), "bytes after the GIF trailer");
    (w, h, frames)
}

#[test]
fn writes_joints_features_bvh_gif_and_summary_per_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    let text = "a person walks forward, then waves";
    generate_ok(
        &out,
        &[
            "--text",
            text,
            "--num",
            "2",
            "--seed",
            "7",
            "--guidance",
            "3",
        ],
    );
    assert_eq!(names(&out), ["sample_0", "sample_1"]);
    let mut joints = Vec::new();
    for k in 0..2 {
        let dir = out.join(format!("sample_{k}"));
        assert_eq!(
            names(&dir),
            [
                "features.npy",
                "joints.npy",
                "motion.bvh",
                "motion.gif",
                "summary.json"
            ]
        );
        // 2.5 s at 20 fps.
        let j = read_f32(&dir.join("joints.npy"));
        assert_eq!(j.shape(), [50, 22, 3]);
        let f = read_f32(&dir.join("features.npy"));
        assert_eq!(f.shape(), [50, 263]);
        assert!(f.iter().all(|v| v.is_finite()));
        let (bvh_joints, frames, frame_time) = parse_bvh(&dir.join("motion.bvh"));
        assert_eq!((bvh_joints, frames), (22, 50));
        assert!((frame_time - 0.05).abs() < 1e-6, "{frame_time}");
        let (w, h, gif_frames) = parse_gif(&dir.join("motion.gif"));
        assert!(w > 0 && h > 0);
        assert_eq!(gif_frames, 50);

        let sm = summary(&dir);
        assert_eq!(sm["text"], text);
        assert_eq!(
            sm["sub_sentences"],
            serde_json::json!(["a person walks forward", "a person waves"])
        );
        assert_eq!(sm["sample"], k);
        assert_eq!(sm["seed"], 7);
        assert_eq!(sm["steps"], 5);
        assert_eq!(sm["guidance"], 3.0);
        assert_eq!(sm["frames"], 50);
        assert_eq!(sm["seconds"], 2.5);
        let model = PathBuf::from(sm["model"].as_str().unwrap());
        assert_eq!(
            model.canonicalize().unwrap(),
            default_model().canonicalize().unwrap()
        );
        for key in ["load_s", "encode_s", "sample_s"] {
            let t = sm["timings"][key].as_f64().unwrap_or(-1.0);
            assert!(t >= 0.0, "timings.{key}: {}", sm["timings"]);
        }
        assert!(sm["text_kp_distance_per_round"].is_array());
        joints.push(j);
    }
    // Two motions of one prompt come from different noise.
    assert!(max_abs_diff(&joints[0], &joints[1]) > 1e-3);
}

#[test]
fn an_input_file_gives_its_prompts_in_order_times_num() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("prompts.txt");
    std::fs::write(&input, "a person jumps\n\n   \n  a person sits down  \n").unwrap();
    let out = tmp.path().join("g");
    generate_ok(
        &out,
        &["--input", s(&input), "--num", "2", "--format", "npy"],
    );
    assert_eq!(
        names(&out),
        ["sample_0", "sample_1", "sample_2", "sample_3"]
    );
    for (k, want) in [
        "a person jumps",
        "a person jumps",
        "a person sits down",
        "a person sits down",
    ]
    .iter()
    .enumerate()
    {
        let dir = out.join(format!("sample_{k}"));
        assert_eq!(summary(&dir)["text"], *want, "sample_{k}");
        assert_eq!(summary(&dir)["sample"], k);
    }
}

#[test]
fn format_npy_writes_only_the_arrays_and_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    generate_ok(
        &out,
        &[
            "--text",
            "a person walks, then waves",
            "--format",
            "npy",
            "--seconds",
            "3",
            "--decompose",
            "none",
        ],
    );
    let dir = out.join("sample_0");
    assert_eq!(names(&dir), ["features.npy", "joints.npy", "summary.json"]);
    assert_eq!(read_f32(&dir.join("joints.npy")).shape(), [60, 22, 3]);
    let sm = summary(&dir);
    assert_eq!(
        sm["files"],
        serde_json::json!(["joints.npy", "features.npy"])
    );
    // --decompose none keeps the caption whole.
    assert_eq!(sm["decomposition"], "none");
    assert_eq!(
        sm["sub_sentences"],
        serde_json::json!(["a person walks, then waves"])
    );

    // --format bvh,gif: no arrays.
    let out = tmp.path().join("h");
    generate_ok(&out, &["--text", "a person waves", "--format", "bvh,gif"]);
    assert_eq!(
        names(&out.join("sample_0")),
        ["motion.bvh", "motion.gif", "summary.json"]
    );
}

#[test]
fn the_same_seed_repeats_exactly_and_another_seed_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = tmp.path().join(name);
        generate_ok(
            &out,
            &[
                "--text",
                "a person kicks with the left leg",
                "--seed",
                seed,
                "--format",
                "npy",
            ],
        );
        out.join("sample_0/joints.npy")
    };
    let (a, b, c) = (run("a", "11"), run("b", "11"), run("c", "12"));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(max_abs_diff(&read_f32(&a), &read_f32(&c)) > 1e-3);

    // --sampler ddim takes another path from the same noise, and says so in the summary.
    let out = tmp.path().join("ddim");
    generate_ok(
        &out,
        &[
            "--text",
            "a person kicks with the left leg",
            "--seed",
            "11",
            "--format",
            "npy",
            "--sampler",
            "ddim",
        ],
    );
    let ddim = out.join("sample_0/joints.npy");
    assert!(max_abs_diff(&read_f32(&a), &read_f32(&ddim)) > 1e-3);
    assert_eq!(summary(&out.join("sample_0"))["sampler"], "ddim");
    assert_eq!(summary(a.parent().unwrap())["sampler"], "ddpm");

    // Radial attention on a motion that fits in one 128-token block keeps every block: the same
    // motion as dense attention, up to float rounding (the block-gather path is not SDPA).
    let radial = tmp.path().join("radial");
    generate_ok(
        &radial,
        &[
            "--text",
            "a person kicks with the left leg",
            "--seed",
            "11",
            "--format",
            "npy",
            "--attention",
            "radial",
        ],
    );
    let r = radial.join("sample_0/joints.npy");
    let d = max_abs_diff(&read_f32(&a), &read_f32(&r));
    assert!(d < 1e-3, "radial vs dense on one block: {d}");

    // --long extrapolates past the trained lengths (the default model: 196 frames), radially.
    let long = tmp.path().join("long");
    let o = generate(
        &long,
        &[
            "--text",
            "a person walks forward",
            "--seconds",
            "15",
            "--long",
            "--attention",
            "radial",
            "--steps",
            "2",
            "--format",
            "npy",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("extrapolating"), "{}", stderr(&o));
    assert_eq!(
        read_f32(&long.join("sample_0/joints.npy")).shape(),
        [300, 22, 3]
    );
}

/// Joint indices (HumanML3D order).
const PELVIS: usize = 0;
const HEAD: usize = 15;

fn assert_plausible(j: &ArrayD<f32>, what: &str) {
    assert!(j.iter().all(|v| v.is_finite()), "{what}: non-finite joints");
    let frames = j.shape()[0];
    // Feet on the floor: the lowest point of the clip is near y = 0.
    let min_y = j
        .index_axis(Axis(2), 1)
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    assert!(min_y.abs() < 0.15, "{what}: lowest joint at y = {min_y}");
    // Upright: the head is above the pelvis on most frames, and the body is person-sized.
    let upright = (0..frames)
        .filter(|&t| j[[t, HEAD, 1]] - j[[t, PELVIS, 1]] > 0.2)
        .count();
    assert!(
        upright * 10 >= frames * 9,
        "{what}: head above pelvis on {upright} of {frames} frames"
    );
    let max_y = j
        .index_axis(Axis(2), 1)
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    assert!(
        (1.0..2.5).contains(&max_y),
        "{what}: highest joint at y = {max_y}"
    );
    // No teleporting joint: at most 1 m in one frame (20 m/s). The first shipped model (no velocity
    // loss) moved feet up to ~0.9 m a frame; the current one at most ~0.3 m.
    let jump = (1..frames)
        .flat_map(|t| (0..22).map(move |k| (t, k)))
        .map(|(t, k)| {
            (0..3)
                .map(|c| (j[[t, k, c]] - j[[t - 1, k, c]]).powi(2))
                .sum::<f32>()
                .sqrt()
        })
        .fold(0.0, f32::max);
    assert!(jump < 1.0, "{what}: a joint moved {jump} m in one frame");
}

/// Mean second difference of the joint positions, in metres per frame squared: 0.002 to 0.035 on
/// the synthetic training clips, a measure of jitter.
fn mean_acceleration(j: &ArrayD<f32>) -> f32 {
    let frames = j.shape()[0];
    let mut sum = 0.0;
    for t in 1..frames - 1 {
        for k in 0..22 {
            sum += (0..3)
                .map(|c| (j[[t + 1, k, c]] - 2.0 * j[[t, k, c]] + j[[t - 1, k, c]]).powi(2))
                .sum::<f32>()
                .sqrt();
        }
    }
    sum / ((frames - 2) * 22) as f32
}

#[test]
fn the_shipped_model_makes_plausible_motion() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    let input = tmp.path().join("prompts.txt");
    std::fs::write(
        &input,
        "a person walks forward\na person waves with the right hand\n",
    )
    .unwrap();
    generate_ok(
        &out,
        &[
            "--input",
            s(&input),
            "--steps",
            "10",
            "--seconds",
            "4",
            "--format",
            "npy",
        ],
    );
    for k in 0..2 {
        let j = read_f32(&out.join(format!("sample_{k}/joints.npy")));
        assert_eq!(j.shape(), [80, 22, 3]);
        assert_plausible(&j, &format!("sample_{k}"));
    }
    // The text conditions the motion: the walk covers ground at a walking pace (0.4 to 2.5 m/s
    // over 4 s); the wave stays in place.
    let travelled = |k: usize| {
        let j = read_f32(&out.join(format!("sample_{k}/joints.npy")));
        let dx = j[[79, PELVIS, 0]] - j[[0, PELVIS, 0]];
        let dz = j[[79, PELVIS, 2]] - j[[0, PELVIS, 2]];
        (dx * dx + dz * dz).sqrt()
    };
    let (walk, wave) = (travelled(0), travelled(1));
    assert!((1.6..10.0).contains(&walk), "the walk travelled {walk} m");
    assert!(wave < 1.0, "the wave travelled {wave} m");
    // Both are nearly as smooth as the training clips (0.017-0.027 m/frame^2 for synthetic walks):
    // the first shipped model's walk measured 0.10-0.42 here (legs flipping between strides), the
    // current one (trained with the velocity loss) 0.021.
    for (k, what, bound) in [(0, "walk", 0.05), (1, "wave", 0.05)] {
        let j = read_f32(&out.join(format!("sample_{k}/joints.npy")));
        let jitter = mean_acceleration(&j);
        assert!(jitter < bound, "the {what} jitters: {jitter} m/frame^2");
    }
}

#[test]
fn explain_prints_each_sub_sentence_with_its_time_window() {
    let tmp = tempfile::tempdir().unwrap();
    let o = generate(
        &tmp.path().join("g"),
        &[
            "--text",
            "a person walks forward, then waves",
            "--format",
            "npy",
            "--seconds",
            "4",
            "--explain",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("a person walks forward, then waves\n"),
        "{out}"
    );
    // "  [0.00-3.40 s] a person walks forward": one window line per sub-sentence, in order,
    // covering the clip from 0 to 4 s.
    let windows: Vec<(f64, f64, &str)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  ["))
        .map(|l| {
            let (span, sentence) = l.split_once(" s] ").unwrap();
            let (a, b) = span.split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap(), sentence)
        })
        .collect();
    assert_eq!(windows.len(), 2, "{out}");
    assert_eq!(windows[0].2, "a person walks forward");
    assert_eq!(windows[1].2, "a person waves");
    assert_eq!(windows[0].0, 0.0);
    assert_eq!(windows[1].1, 4.0);
    assert!(
        windows[0].0 < windows[1].0 && windows[0].1 < windows[1].1,
        "{windows:?}"
    );
    // Events are listed under the windows.
    assert!(out.lines().any(|l| l.starts_with("      ")), "{out}");
}

#[test]
fn without_out_it_writes_a_new_dated_folder_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let o = keta_in(
        tmp.path(),
        &[
            "generate",
            "--text",
            "A person jumps, twice!",
            "--device",
            "cpu",
            "--steps",
            "5",
            "--seconds",
            "2",
            "--format",
            "npy",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let made = names(&tmp.path().join("out"));
    assert_eq!(made.len(), 1, "{made:?}");
    let name = &made[0];
    // out/<YYYYmmdd-HHMMSS>-<slug>
    let (stamp, slug) = name.split_at(15);
    assert!(
        stamp.len() == 15
            && stamp[..8].bytes().all(|c| c.is_ascii_digit())
            && &stamp[8..9] == "-"
            && stamp[9..].bytes().all(|c| c.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(slug, "-a-person-jumps-twice");
    let j = read_f32(
        &tmp.path()
            .join("out")
            .join(name)
            .join("sample_0/joints.npy"),
    );
    assert_eq!(j.shape(), [40, 22, 3]);
}

#[test]
fn a_non_empty_out_needs_force_and_force_replaces_only_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g");
    std::fs::create_dir_all(out.join("sample_0")).unwrap();
    std::fs::write(out.join("sample_0/joints.npy"), b"old").unwrap();
    // A sample of an earlier, bigger run: --force removes it, so the folder holds one run.
    std::fs::create_dir_all(out.join("sample_3")).unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let before = snapshot(&out);
    let args = ["--text", "a person waves", "--format", "npy"];
    let o = generate(&out, &args);
    assert_one_line_error(&o, 1, &[s(&out), "not empty", "--force"]);
    assert_eq!(snapshot(&out), before, "a refused run changed --out");

    let mut forced = args.to_vec();
    forced.push("--force");
    generate_ok(&out, &forced);
    assert_eq!(names(&out), ["notes.txt", "sample_0"]);
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(
        read_f32(&out.join("sample_0/joints.npy")).shape(),
        [50, 22, 3]
    );

    // An --out that is a file is refused.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert_one_line_error(
        &generate(&file, &["--text", "a person waves", "--force"]),
        1,
        &[s(&file), "not a folder"],
    );
}

#[test]
fn bad_text_lengths_and_counts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let bad = |extra: &[&str], needles: &[&str]| {
        let o = generate(&out, extra);
        assert_one_line_error(&o, 1, needles);
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    };
    bad(&["--text", "   "], &["--text is empty"]);
    bad(&["--text", ""], &["--text is empty"]);
    let long = "walk ".repeat(300);
    bad(&["--text", &long], &["1500 characters", "longer than 1000"]);
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    bad(&["--input", s(&empty)], &["--input has no non-blank line"]);
    let missing = tmp.path().join("missing.txt");
    bad(&["--input", s(&missing)], &[s(&missing)]);
    for secs in ["0.5", "60", "1.9", "9.9"] {
        bad(
            &["--text", "a man walks", "--seconds", secs],
            &[&format!("--seconds {secs}"), "2.00 to 9.80 s"],
        );
    }
    bad(
        &["--text", "a man walks", "--seconds=-2"],
        &["--seconds -2"],
    );
    bad(
        &["--text", "a man walks", "--seconds", "NaN"],
        &["--seconds NaN"],
    );
    bad(&["--text", "a man walks", "--num", "0"], &["--num 0"]);
    bad(
        &["--text", "a man walks", "--num", "2000"],
        &["2000", "at most 1024"],
    );
    bad(
        &["--text", "a man walks", "--steps", "0"],
        &["--steps 0", "1 and 1000"],
    );
    bad(
        &["--text", "a man walks", "--steps", "1001"],
        &["--steps 1001"],
    );
    bad(
        &["--text", "a man walks", "--guidance=-1"],
        &["--guidance -1"],
    );
    bad(
        &["--text", "a man walks", "--refine-rounds", "1"],
        &["--refine-rounds", "guide tokens"],
    );
    // Usage errors exit 2.
    assert_eq!(keta(&["generate"]).status.code(), Some(2));
    assert_eq!(
        keta(&["generate", "--text", "a", "--sampler", "euler"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        keta(&["generate", "--text", "a", "--format", "mp4"])
            .status
            .code(),
        Some(2)
    );
}

/// A copy of the shipped model in `dir/name`.
fn copied_model(dir: &Path, name: &str) -> PathBuf {
    let model = dir.join(name);
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "weights.safetensors", "Mean.npy", "Std.npy"] {
        std::fs::copy(default_model().join(f), model.join(f)).unwrap();
    }
    model
}

/// A copy of the shipped model in `dir/name` with `edit` applied to its config.json text.
fn edited_model(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let model = copied_model(dir, name);
    let cfg = std::fs::read_to_string(model.join("config.json")).unwrap();
    let edited = edit(cfg.clone());
    assert_ne!(edited, cfg, "the edit changed nothing");
    std::fs::write(model.join("config.json"), edited).unwrap();
    model
}

/// Sets `model.<key>` (the top-level model section) of a config.json text.
fn set_model_key(cfg: String, key: &str, value: i64) -> String {
    let mut v: Value = serde_json::from_str(&cfg).unwrap();
    v["model"][key] = value.into();
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn a_model_that_does_not_match_its_weights_is_refused_naming_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let run = |model: &Path| generate(&out, &["--text", "a man walks", "--model", s(model)]);

    let missing = tmp.path().join("no-such-model");
    assert_one_line_error(&run(&missing), 1, &[s(&missing)]);

    let wide = edited_model(tmp.path(), "wide", |c| set_model_key(c, "d_model", 128));
    assert_one_line_error(&run(&wide), 1, &["weights.safetensors", "input.weight"]);

    let fewer = edited_model(tmp.path(), "fewer", |c| set_model_key(c, "layers", 6));
    assert_one_line_error(
        &run(&fewer),
        1,
        &["unexpected key", "layers.6.attn.out.bias", "and 20 more"],
    );

    let more = edited_model(tmp.path(), "more", |c| set_model_key(c, "layers", 9));
    assert_one_line_error(
        &run(&more),
        1,
        &["missing key", "layers.8.attn.out.bias", "more"],
    );

    let corrupt = edited_model(tmp.path(), "corrupt", |c| c[..c.len() / 2].to_string());
    assert_one_line_error(&run(&corrupt), 1, &["config.json"]);

    let unknown = edited_model(tmp.path(), "unknown", |c| {
        let mut v: Value = serde_json::from_str(&c).unwrap();
        v["colour"] = "blue".into();
        v.to_string()
    });
    assert_one_line_error(&run(&unknown), 1, &["config.json", "colour"]);

    let no_mean = copied_model(tmp.path(), "no-mean");
    std::fs::remove_file(no_mean.join("Mean.npy")).unwrap();
    assert_one_line_error(&run(&no_mean), 1, &["Mean.npy"]);
    assert!(!out.exists());

    // Control: an unedited copy loads and generates.
    let copy = copied_model(tmp.path(), "copy");
    let o = generate(
        &tmp.path().join("ok"),
        &[
            "--text",
            "a man walks",
            "--model",
            s(&copy),
            "--format",
            "npy",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        &["generate"][..],
        &["train"],
        &["model", "pack"],
        &["features", "to-joints"],
        &["features", "from-joints"],
        &["data", "check"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = keta_ok(&args);
        assert!(stdout(&o).contains("Example"), "{cmd:?}");
    }
}
