//! `keta bench train|generate`: the denoiser at the reference size on random data, in the
//! configuration of the peer benchmark (`../shared/anchors/mdm_peer.py`: 512-d random text vectors,
//! AdamW without weight decay, no EMA, no clipping; CFG 2.5 with both branches in one batch), plus
//! our training extras (EMA, clipping) timed separately.

use std::sync::Arc;
use std::time::Instant;

use kernels::DenseAttention;
use motion::checkpoint::{DiffusionConfig, ModelCard, MotionModel, MotionSpec, CARD_FORMAT};
use motion::data::normalization::Normalization;
use motion::diffusion::{NoiseSchedule, TRAIN_STEPS};
use motion::model::{Denoiser, DenoiserConfig, Padding};
use motion::sample::SampleOptions;
use motion::training::{step_seed, DeviceBatch, Precision, TrainConfig, Trainer};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::bench::{machine, sync};

/// The peer's text vectors are CLIP-sized.
const PEER_TEXT_DIM: i64 = 512;
const BATCH: i64 = 64;
const FRAMES: i64 = 196;
const MIN_LEN: i64 = 40;

fn reference_model() -> DenoiserConfig {
    DenoiserConfig {
        text_dim: PEER_TEXT_DIM,
        ..DenoiserConfig::mdm()
    }
}

/// Random motions zero-padded after random lengths in [40, 196], random text (as the peer).
fn random_batch(device: Device) -> anyhow::Result<DeviceBatch> {
    let lengths = Vec::<i64>::try_from(Tensor::randint_low(
        MIN_LEN,
        FRAMES + 1,
        [BATCH],
        (Kind::Int64, Device::Cpu),
    ))?;
    let x0 = Tensor::randn([BATCH, FRAMES, 263], (Kind::Float, device));
    let text = Tensor::randn([BATCH, PEER_TEXT_DIM], (Kind::Float, device));
    let b = DeviceBatch::from_parts(x0, &lengths, text);
    let x0 = &b.x0 * b.valid.unsqueeze(-1).to_kind(Kind::Float);
    Ok(DeviceBatch { x0, ..b })
}

pub fn bench_train(device: Device, runs: usize, json_out: bool) -> anyhow::Result<()> {
    tch::manual_seed(0);
    let packed = (0..4)
        .map(|_| random_batch(device))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The same batches with padding only masked in attention (every token through every layer, as
    // the peer does).
    let masked: Vec<DeviceBatch> = packed
        .iter()
        .map(|b| DeviceBatch {
            x0: b.x0.shallow_clone(),
            valid: b.valid.shallow_clone(),
            padding: Padding::from_mask(b.padding.mask.copy()),
            text: b.text.shallow_clone(),
        })
        .collect();
    let (warmup, steps) = if device.is_cuda() { (10, 50) } else { (2, 5) };
    let mut rows = Vec::new();
    for (precision, name) in [(Precision::Fp32, "fp32"), (Precision::Bf16, "bf16")] {
        // The trainer packs real tokens in fp32 only (in bf16 packing measured slower, 16 vs 13
        // ms a step on an H100), so bf16 has no packed rows.
        let variants: &[(&str, bool)] = match precision {
            Precision::Bf16 => &[("masked", false), ("masked", true)],
            _ => &[("masked", false), ("packed", false), ("packed", true)],
        };
        for &(tokens, extras) in variants {
            let batches = if tokens == "packed" { &packed } else { &masked };
            let cfg = TrainConfig {
                model: reference_model(),
                precision,
                grad_clip: if extras { 1.0 } else { 0.0 },
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(&cfg, device, &(Arc::new(DenseAttention) as _))?;
            trainer.ema_enabled = extras;
            let mut i = 0u64;
            let mut last = Tensor::zeros([], (Kind::Float, device));
            let mut run = |n: u64, trainer: &mut Trainer| -> anyhow::Result<()> {
                for _ in 0..n {
                    let b = &batches[(i % 4) as usize];
                    last = trainer.step(b, step_seed(0, i), 1e-4, None)?.loss;
                    i += 1;
                }
                Ok(())
            };
            run(warmup, &mut trainer)?;
            sync(device);
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                run(steps, &mut trainer)?;
                sync(device);
                times.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
            }
            times.sort_by(f64::total_cmp);
            let ms = times[times.len() / 2];
            let loss = last.double_value(&[]);
            anyhow::ensure!(loss.is_finite(), "non-finite training loss {loss}");
            rows.push(json!({
                "what": "train", "dtype": name,
                "extras": if extras { "ema+clip" } else { "none (peer config)" },
                "padding": tokens,
                "batch": BATCH, "frames": FRAMES, "ms_per_step": ms, "steps_per_s": 1e3 / ms,
                "samples_per_s": BATCH as f64 * 1e3 / ms, "final_loss": loss,
                "params": trainer.parameters(),
            }));
        }
    }
    report("train", device, rows, json_out)
}

/// A random reference-size model in `kind` as a [`MotionModel`].
fn random_model(device: Device, kind: Kind) -> anyhow::Result<MotionModel> {
    let cfg = reference_model();
    let mut vs = VarStore::new(device);
    let denoiser = Denoiser::new(vs.root(), &cfg)?;
    if kind == Kind::BFloat16 {
        vs.bfloat16();
    }
    Ok(MotionModel {
        dir: "random".into(),
        card: ModelCard {
            format: CARD_FORMAT,
            model: cfg,
            diffusion: DiffusionConfig::default(),
            text_encoder: "random".into(),
            motion: MotionSpec::default(),
            kp_tau: None,
            training: None,
        },
        vs,
        denoiser,
        normalization: Normalization {
            mean: vec![0.0; 263],
            std: vec![1.0; 263],
        },
        schedule: NoiseSchedule::cosine(TRAIN_STEPS)?,
        guide: None,
    })
}

pub fn bench_generate(device: Device, runs: usize, json_out: bool) -> anyhow::Result<()> {
    tch::manual_seed(0);
    let mut rows = Vec::new();
    let sizes: &[i64] = if device.is_cuda() { &[1, 32] } else { &[1] };
    let graph_modes: &[bool] = if device.is_cuda() {
        &[false, true]
    } else {
        &[false]
    };
    for (kind, name) in [(Kind::Float, "fp32"), (Kind::BFloat16, "bf16")] {
        let model = random_model(device, kind)?;
        for &n in sizes {
            for &cuda_graph in graph_modes {
                let text = Tensor::randn([n, PEER_TEXT_DIM], (Kind::Float, device));
                let opts = SampleOptions {
                    rows: FRAMES,
                    cuda_graph,
                    ..SampleOptions::default()
                };
                let warm = SampleOptions {
                    steps: 5,
                    ..opts.clone()
                };
                let _ = model.sample(&text, None, &warm, &mut |_, _| {})?;
                sync(device);
                let mut times = Vec::new();
                let mut out = None;
                for _ in 0..runs {
                    let t = Instant::now();
                    out = Some(model.sample(&text, None, &opts, &mut |_, _| {})?);
                    sync(device);
                    times.push(t.elapsed().as_secs_f64());
                }
                times.sort_by(f64::total_cmp);
                let secs = times[times.len() / 2];
                let out = out.expect("runs >= 1");
                let finite = bool::try_from(out.features.isfinite().all()).unwrap_or(false);
                anyhow::ensure!(finite, "non-finite sample");
                rows.push(json!({
                    "what": "sample", "dtype": name, "batch": n, "frames": FRAMES,
                    "steps": opts.steps, "guidance": opts.guidance, "cuda_graph": out.cuda_graph,
                    "seconds": secs, "seconds_min": times[0],
                    "ms_per_step": secs * 1e3 / opts.steps as f64, "motions_per_s": n as f64 / secs,
                }));
            }
        }
    }
    report("generate", device, rows, json_out)
}

fn report(
    what: &str,
    device: Device,
    rows: Vec<serde_json::Value>,
    json_out: bool,
) -> anyhow::Result<()> {
    let base = json!({
        "machine": machine(device),
        "model": "d512-L8-H4-ff1024 (encoder), text 512",
        "attention": "dense (libtorch SDPA)",
    });
    if json_out {
        for mut r in rows {
            for (k, v) in base.as_object().expect("object") {
                r[k] = v.clone();
            }
            println!("{r}");
        }
        return Ok(());
    }
    println!(
        "keta bench {what} on {}: {}",
        base["machine"], base["model"]
    );
    for r in rows {
        println!("  {r}");
    }
    Ok(())
}
