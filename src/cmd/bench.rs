//! `keta bench`: times on this machine, with the machine named in the output.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::cli::{BenchCommand, BenchOpts};

/// A benchmark: (device, timed runs, print JSON).
type Bench = fn(Device, usize, bool) -> anyhow::Result<()>;

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let (opts, bench): (&BenchOpts, Bench) = match &cmd {
        BenchCommand::Attention(a) => {
            let o = &a.opts;
            return super::bench_attention::bench_attention(
                super::device(o.device)?,
                o.runs.max(1),
                o.json,
                &a.tokens,
                &a.head_dims,
            );
        }
        BenchCommand::Kp(o) => (o, bench_kp),
        BenchCommand::Text(o) => (o, bench_text),
        BenchCommand::Features(o) => (o, bench_features),
        BenchCommand::Train(o) => (o, super::bench_model::bench_train),
        BenchCommand::Generate(o) => (o, super::bench_model::bench_generate),
    };
    bench(super::device(opts.device)?, opts.runs.max(1), opts.json)
}

pub(super) fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Median wall time in milliseconds of `f` over `runs` runs after 3 warm-ups.
fn median_ms(device: Device, runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    sync(device);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            sync(device);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub(super) fn machine(device: Device) -> String {
    match device {
        Device::Cuda(i) => {
            kernels::cuda::device_name(i).unwrap_or_else(|e| format!("CUDA device {i} ({e})"))
        }
        _ => format!("CPU, {} threads", tch::get_num_threads()),
    }
}

fn bench_kp(device: Device, runs: usize, json: bool) -> anyhow::Result<()> {
    let (b, t) = (64i64, 196i64);
    tch::manual_seed(0);
    // A T-pose-sized body with per-frame jitter: timing does not depend on the motion's content.
    let joints =
        (Tensor::randn([b, t, 22, 3], (Kind::Float, device)) * 0.3 + 1.0).set_requires_grad(true);
    let lengths = vec![t; b as usize];
    let scales = kp::SoftScales::default();
    let forward = median_ms(device, runs, || {
        let _ = tch::no_grad(|| {
            kp::extract(&joints, Some(&lengths), kp::Mode::Soft, &scales).expect("valid input")
        });
    });
    let backward = median_ms(device, runs, || {
        let s = kp::extract(&joints, Some(&lengths), kp::Mode::Soft, &scales).expect("valid input");
        s.sum(Kind::Float).backward();
    });
    let name = machine(device);
    if json {
        let out = serde_json::json!({
            "bench": "kp", "batch": b, "frames": t, "dtype": "float32", "device": format!("{device:?}"),
            "machine": name, "runs": runs, "forward_ms": forward, "forward_backward_ms": backward,
            "backward_over_forward": backward / forward,
        });
        println!("{out}");
    } else {
        println!("soft KP, batch {b} x {t} frames, float32, {name} (median of {runs})");
        println!("  forward             {forward:9.3} ms");
        println!(
            "  forward + backward  {backward:9.3} ms  ({:.2}x the forward)",
            backward / forward
        );
    }
    Ok(())
}

fn bench_features(device: Device, runs: usize, json: bool) -> anyhow::Result<()> {
    let (b, t) = (64i64, 196i64);
    tch::manual_seed(0);
    // A plausible clip (T-pose with jitter) repeated with noise: the cost does not depend on content.
    let tpose: Vec<f32> = motion::skeleton::tpose()
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    let base = Tensor::from_slice(&tpose)
        .reshape([1, 1, 22, 3])
        .to_device(device);
    let joints = base + Tensor::randn([b, t, 22, 3], (Kind::Float, device)) * 0.02;
    let feats = motion::features_from_joints(&joints)?;
    let forward = median_ms(device, runs, || {
        let _ = motion::features_from_joints(&joints).expect("valid joints");
    });
    let recover = median_ms(device, runs, || {
        let _ = motion::joints_from_features(&feats).expect("valid features");
    });
    let name = machine(device);
    let clips_per_s = |ms: f64| b as f64 / (ms / 1e3);
    if json {
        let out = serde_json::json!({
            "bench": "features", "batch": b, "frames": t, "dtype": "float32", "device": format!("{device:?}"),
            "machine": name, "runs": runs, "from_joints_ms": forward, "to_joints_ms": recover,
            "from_joints_clips_per_s": clips_per_s(forward), "to_joints_clips_per_s": clips_per_s(recover),
        });
        println!("{out}");
    } else {
        println!("features, batch {b} x {t} frames, float32, {name} (median of {runs})");
        println!(
            "  joints -> features  {forward:9.3} ms  ({:.0} clips/s, {:.0} frames/s)",
            clips_per_s(forward),
            clips_per_s(forward) * t as f64
        );
        println!(
            "  features -> joints  {recover:9.3} ms  ({:.0} clips/s, {:.0} frames/s)",
            clips_per_s(recover),
            clips_per_s(recover) * t as f64
        );
    }
    Ok(())
}

fn bench_text(device: Device, runs: usize, json: bool) -> anyhow::Result<()> {
    let encoder = text::SentenceEncoder::load_default(device)?;
    let verbs = [
        "walks forward",
        "jumps twice",
        "waves with the left hand",
        "turns around",
        "kicks with the right leg",
        "sits down on the floor",
        "runs in a circle",
        "raises both arms",
    ];
    let people = [
        "a person",
        "a man",
        "someone",
        "the woman",
        "a child",
        "an old man",
        "the dancer",
        "a boy",
    ];
    // 64 distinct captions of typical length (6-10 tokens).
    let sentences: Vec<String> = people
        .iter()
        .flat_map(|p| verbs.iter().map(move |v| format!("{p} {v}, then stops")))
        .collect();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let one = median_ms(device, runs, || {
        let _ = encoder.encode(&refs[..1]).expect("encodes");
    });
    let batch = median_ms(device, runs, || {
        let _ = encoder.encode(&refs).expect("encodes");
    });
    let name = machine(device);
    let per_s = |n: usize, ms: f64| n as f64 / (ms / 1e3);
    if json {
        let out = serde_json::json!({
            "bench": "text", "encoder": text::ENCODER_ID, "device": format!("{device:?}"), "machine": name, "runs": runs,
            "batch1_ms": one, "batch64_ms": batch, "batch1_sentences_per_s": per_s(1, one), "batch64_sentences_per_s": per_s(64, batch),
        });
        println!("{out}");
    } else {
        println!(
            "sentence encoder {}, {name} (median of {runs})",
            text::ENCODER_ID
        );
        println!(
            "  batch 1   {one:9.3} ms  ({:.0} sentences/s)",
            per_s(1, one)
        );
        println!(
            "  batch 64  {batch:9.3} ms  ({:.0} sentences/s)",
            per_s(64, batch)
        );
    }
    Ok(())
}
