//! `keta bench attention`: dense SDPA vs radial block-gather vs the fused radial kernel, forward
//! only, bf16, batch 1, 8 heads, at 1k-64k tokens and head dims 64/128 (design radial-attention.md,
//! section 4; anchors/attn_anchor.py times FlexAttention on the same layout, scripts/flex_steady.py
//! at steady state, as here). 1k and 2k locate the length where radial overtakes dense
//! (`RadialConfig::auto_dense_below`).

use kernels::radial::fused::FusedKernel;
use kernels::radial::{fused, gather_attention, LayoutCache, RadialInputs};
use kernels::{Attention, DenseAttention, RadialConfig};
use tch::{Device, Kind, Tensor};

use super::bench::machine;

/// Calls per timed window at most, and warm-up calls at most: scripts/flex_steady.py's figures for
/// FlexAttention, so that both sides of the ratio are timed alike.
const WINDOW_CALLS: usize = 50;
const WARM_CALLS: usize = 200;

/// Median over `runs` windows of the GPU time per call (ms), each window CUDA events around
/// back-to-back calls, after warm-up: scripts/flex_steady.py's method. Calls that take long get
/// fewer calls (a window of about 25 ms, a warm-up of about 200 ms: dense SDPA and block-gather
/// at 64k tokens take 16-28 ms a call on an H100).
fn time_ms(device: Device, runs: usize, mut f: impl FnMut()) -> anyhow::Result<f64> {
    let Device::Cuda(ordinal) = device else {
        anyhow::bail!("GPU timing on {device:?}");
    };
    let timed = |calls, f: &mut dyn FnMut()| {
        kernels::cuda::gpu_ms_per_call(ordinal, calls, &mut || f()).map_err(anyhow::Error::msg)
    };
    // Untimed first calls: a kernel's first launch compiles it (NVRTC).
    timed(3, &mut f)?;
    let one = timed(3, &mut f)?.max(1e-3);
    let calls = |budget_ms: f64, most: usize| ((budget_ms / one).ceil() as usize).clamp(1, most);
    timed(calls(200.0, WARM_CALLS), &mut f)?;
    let window = calls(25.0, WINDOW_CALLS);
    let mut times = (0..runs)
        .map(|_| timed(window, &mut f))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Times every length in `tokens` at every head dim in `head_dims`.
pub fn bench_attention(
    device: Device,
    runs: usize,
    json: bool,
    tokens: &[i64],
    head_dims: &[i64],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        device.is_cuda(),
        "keta bench attention times CUDA kernels: pass --device cuda"
    );
    if let Some(t) = tokens.iter().find(|&&t| !(1..=1 << 20).contains(&t)) {
        anyhow::bail!("--tokens {t}: expected 1 to 1048576 tokens");
    }
    if let Some(d) = head_dims.iter().find(|d| !fused::HEAD_DIMS.contains(d)) {
        anyhow::bail!(
            "--head-dims {d}: the fused kernels have head dims {:?}",
            fused::HEAD_DIMS
        );
    }
    let cfg = RadialConfig::default();
    let cache = LayoutCache::default();
    let (b, h) = (1i64, 8i64);
    let name = machine(device);
    let ordinal = match device {
        Device::Cuda(i) => i,
        _ => 0,
    };
    let default = FusedKernel::Auto.resolve(ordinal)?;
    // The Hopper kernels are timed beside the default unless mma.sync was asked for there.
    let hopper = matches!(
        default,
        FusedKernel::Wgmma | FusedKernel::Ws | FusedKernel::Pws
    );
    if !json {
        println!(
            "attention forward, bf16, batch {b}, {h} heads, block {}, W0 {} on {name}; fused kernel: {default:?} (wgmma below {} tokens, pws at d64 from {}, ws otherwise)",
            cfg.block, cfg.dense_core, fused::WS_MIN_TOKENS, fused::PWS_MIN_TOKENS
        );
        println!(
            "{:>7} {:>4} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
            "tokens",
            "dim",
            "density",
            "dense ms",
            "gather ms",
            "fused ms",
            "mma.sync ms",
            "wgmma ms",
            "ws ms",
            "pws ms",
            "dense TF/s",
            "fused TF/s",
            "fused err"
        );
    }
    for &d in head_dims {
        for &t in tokens {
            tch::manual_seed(0);
            let make =
                || Tensor::randn([b, h, t, d], (Kind::Float, device)).to_kind(Kind::BFloat16);
            let (q, k, v) = (make(), make(), make());
            let layout = cache.get((t as usize).div_ceil(cfg.block), cfg.rule(), device);
            let kernel = FusedKernel::Auto.for_shape(ordinal, t, cfg.block, d)?;
            let inputs = RadialInputs {
                q: &q,
                k: &k,
                v: &v,
                key_padding: None,
                layout: &layout,
                block: cfg.block,
            };
            let (dense, gather, fused, mma, wgmma, ws, pws, err) =
                tch::no_grad(|| -> anyhow::Result<_> {
                    let dense = time_ms(device, runs, || {
                        let _ = DenseAttention.attend(&q, &k, &v, None);
                    })?;
                    let gather = time_ms(device, runs, || {
                        let _ = gather_attention(inputs);
                    })?;
                    let fused_out = fused::forward(inputs)?.0;
                    let fused = time_ms(device, runs, || {
                        let _ = fused::forward(inputs);
                    })?;
                    // The other kernels this device runs, timed in-process as baselines.
                    let other = |other: FusedKernel| {
                        (kernel != other).then(|| {
                            time_ms(device, runs, || {
                                let _ = fused::forward_with(other, inputs);
                            })
                        })
                    };
                    let mma = other(FusedKernel::MmaSync).transpose()?;
                    let wgmma = hopper.then(|| other(FusedKernel::Wgmma)).flatten();
                    let ws = hopper.then(|| other(FusedKernel::Ws)).flatten();
                    // The persistent kernel has head dim 64 only (at 128 it would run ws).
                    let pws = (hopper && d == 64)
                        .then(|| other(FusedKernel::Pws))
                        .flatten();
                    let (wgmma, ws, pws) = (wgmma.transpose()?, ws.transpose()?, pws.transpose()?);
                    // Agreement with block-gather on the same inputs (both attend the same blocks).
                    let reference = gather_attention(inputs);
                    let err = (fused_out.to_kind(Kind::Float) - reference.to_kind(Kind::Float))
                        .abs()
                        .max()
                        .double_value(&[]);
                    Ok((dense, gather, fused, mma, wgmma, ws, pws, err))
                })?;
            // Effective TFLOP/s count the two matmuls (4 T_q T_k D per head) over kept token pairs.
            let bl = cfg.block as f64;
            let kept_pairs = layout.host.nnz() as f64 * bl * bl;
            let kept_flops = 4.0 * (b * h * d) as f64 * kept_pairs;
            let dense_flops = 4.0 * (b * h * d) as f64 * (t * t) as f64;
            let tflops = |flops: f64, ms: f64| flops / ms / 1e9;
            let show = |ms: Option<f64>| ms.map_or("-".to_string(), |ms| format!("{ms:.3}"));
            if json {
                let out = serde_json::json!({
                    "bench": "attention", "machine": name, "dtype": "bfloat16", "B": b, "H": h, "L": t,
                    "D": d, "block": cfg.block, "dense_core": cfg.dense_core, "runs": runs,
                    "radial_density": layout.host.density(),
                    "dense_sdpa_ms": dense, "dense_sdpa_tflops": tflops(dense_flops, dense),
                    "gather_ms": gather, "gather_eff_tflops": tflops(kept_flops, gather),
                    "fused_kernel": format!("{kernel:?}"),
                    "fused_ms": fused, "fused_eff_tflops": tflops(kept_flops, fused),
                    "mma_sync_ms": mma, "mma_sync_eff_tflops": mma.map(|ms| tflops(kept_flops, ms)),
                    "wgmma_ms": wgmma, "wgmma_eff_tflops": wgmma.map(|ms| tflops(kept_flops, ms)),
                    "ws_ms": ws, "ws_eff_tflops": ws.map(|ms| tflops(kept_flops, ms)),
                    "pws_ms": pws, "pws_eff_tflops": pws.map(|ms| tflops(kept_flops, ms)),
                    "fused_vs_gather_max_abs": err,
                });
                println!("{out}");
            } else {
                println!(
                    "{t:>7} {d:>4} {:>7.2}% {dense:>10.3} {gather:>10.3} {fused:>10.3} {:>10} {:>10} {:>10} {:>10} {:>10.1} {:>10.1} {err:>9.1e}",
                    100.0 * layout.host.density(),
                    show(mma),
                    show(wgmma),
                    show(ws),
                    show(pws),
                    tflops(dense_flops, dense),
                    tflops(kept_flops, fused),
                );
            }
        }
    }
    Ok(())
}
