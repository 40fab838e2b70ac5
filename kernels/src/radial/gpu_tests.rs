//! GPU checks of the fused kernel and the CUDA paths (ignored on CPU CI; run through
//! scripts/radial_gpu_check.sh). Reference: the dense masked attention in fp32 from the same
//! half-precision inputs.

use tch::{Device, Kind, Tensor};

use super::{fused, BlockRule, LayoutCache, RadialAttention, RadialBackend, RadialConfig};

const RULE: BlockRule = BlockRule {
    dense_core: 1,
    decay: 1,
};

/// Softmax-attention reference in fp32: (out [B, H, T, D], lse [B, H, T]) over `allowed [B, T, T]`.
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, allowed: &Tensor) -> (Tensor, Tensor) {
    let (q, k, v) = (
        q.to_kind(Kind::Float),
        k.to_kind(Kind::Float),
        v.to_kind(Kind::Float),
    );
    let d = q.size()[3] as f64;
    let scores = q.matmul(&k.transpose(-1, -2)) / d.sqrt(); // [B, H, T, T]
    let scores = scores.masked_fill(&allowed.logical_not().unsqueeze(1), f64::NEG_INFINITY);
    let lse = scores.logsumexp([-1], false);
    (scores.softmax(-1, Kind::Float).matmul(&v), lse)
}

fn max_err(a: &Tensor, b: &Tensor) -> f64 {
    let e = (a.to_kind(Kind::Float) - b.to_kind(Kind::Float))
        .abs()
        .max()
        .double_value(&[]);
    assert!(e.is_finite(), "non-finite output");
    e
}

/// Inputs [B, H, T, D] in `kind` on the GPU, and padding (last 37 frames of sequence 1).
fn inputs(b: i64, h: i64, t: i64, d: i64, kind: Kind) -> (Tensor, Tensor, Tensor, Tensor) {
    let dev = Device::Cuda(0);
    let make = || Tensor::randn([b, h, t, d], (Kind::Float, dev)).to_kind(kind);
    let pad = Tensor::zeros([b, t], (Kind::Bool, dev));
    if b > 1 {
        let _ = pad.narrow(0, 1, 1).narrow(1, t - 37, 37).fill_(1);
    }
    (make(), make(), make(), pad)
}

#[test]
#[ignore = "needs a GPU: scripts/radial_gpu_check.sh"]
fn fused_matches_dense_masked_reference() {
    tch::manual_seed(7);
    let cache = LayoutCache::default();
    let dev = Device::Cuda(0);
    // Every fused kernel this device runs: mma.sync everywhere, wgmma, ws and pws on Hopper (ws
    // and pws fall back to wgmma for blocks of 64, pws to ws at head dim 128: those cases are
    // covered by the kernel that runs them).
    let mut kernels = vec![fused::FusedKernel::MmaSync];
    if fused::FusedKernel::Wgmma.resolve(0).is_ok() {
        kernels.extend([
            fused::FusedKernel::Wgmma,
            fused::FusedKernel::Ws,
            fused::FusedKernel::Pws,
        ]);
    }
    for (kernel, kind) in kernels
        .into_iter()
        .flat_map(|f| [(f, Kind::BFloat16), (f, Kind::Half)])
    {
        for d in fused::HEAD_DIMS {
            // 5,000 tokens: 40 query blocks x 6 heads and batches, more than an H100's 132 SMs,
            // so each persistent CTA streams several query blocks.
            for (t, block) in [
                (1024i64, 128usize),
                (1000, 128),
                (2200, 128),
                (5000, 128),
                (777, 64),
                (4096, 64),
            ] {
                if kernel.for_shape(0, t, block, d).unwrap() != kernel {
                    continue; // a case of the kernel that runs in its place
                }
                let (q, k, v, pad) = inputs(2, 3, t, d, kind);
                let layout = cache.get((t as usize).div_ceil(block), RULE, dev);
                let mask = layout.host.token_mask(block, t as usize, 0, dev); // [T, T]
                                                                              // With key padding every tile takes the kernels' masked path; without it only
                                                                              // the ragged last tile does.
                for padded in [true, false] {
                    let inputs = super::RadialInputs {
                        q: &q,
                        k: &k,
                        v: &v,
                        key_padding: padded.then_some(&pad),
                        layout: &layout,
                        block,
                    };
                    let (out, lse) = fused::forward_with(kernel, inputs).unwrap();
                    let allowed = if padded {
                        mask.unsqueeze(0)
                            .logical_and(&pad.logical_not().unsqueeze(1))
                    } else {
                        mask.unsqueeze(0).repeat([2, 1, 1])
                    };
                    let (want, want_lse) = reference(&q, &k, &v, &allowed);
                    let (e, el) = (max_err(&out, &want), max_err(&lse, &want_lse));
                    println!(
                        "fused {kernel:?} {kind:?} d {d} T {t} block {block} padded {padded}: max err {e:.2e}, lse {el:.2e}"
                    );
                    assert!(
                        e <= 2e-2,
                        "{kernel:?} {kind:?} d {d} T {t} block {block}: out err {e}"
                    );
                    assert!(
                        el <= 2e-2,
                        "{kernel:?} {kind:?} d {d} T {t} block {block}: lse err {el}"
                    );
                }
            }
        }
    }
}

#[test]
#[ignore = "needs a GPU: scripts/radial_gpu_check.sh"]
fn auto_backend_with_condition_tokens_matches_its_token_mask() {
    tch::manual_seed(8);
    let dev = Device::Cuda(0);
    let cfg = RadialConfig {
        auto_dense_below: 0,
        gather_dense_below: 0,
        ..RadialConfig::default()
    };
    let (t, cond) = (4200i64, 5usize);
    for backend in [RadialBackend::Auto, RadialBackend::Gather] {
        let attn = RadialAttention::new(cfg.clone(), backend)
            .unwrap()
            .with_condition_tokens(cond)
            .unwrap();
        let (q, k, v, pad) = inputs(2, 2, t, 64, Kind::BFloat16);
        let out = tch::no_grad(|| attn.forward(&q, &k, &v, Some(&pad)).unwrap());
        let mask = attn.token_mask(t as usize, dev);
        let allowed = mask
            .unsqueeze(0)
            .logical_and(&pad.logical_not().unsqueeze(1));
        let (want, _) = reference(&q, &k, &v, &allowed);
        let e = max_err(&out, &want);
        println!("{backend:?} bf16 T {t} cond {cond}: max err {e:.2e}");
        assert!(e <= 2e-2, "{backend:?}: {e}");
    }
}

#[test]
#[ignore = "needs a GPU: scripts/radial_gpu_check.sh"]
fn gather_gradients_on_cuda_match_the_reference() {
    tch::manual_seed(9);
    let dev = Device::Cuda(0);
    let (t, block) = (1500i64, 128usize);
    let cache = LayoutCache::default();
    let layout = cache.get((t as usize).div_ceil(block), RULE, dev);
    let (q, k, v, pad) = inputs(2, 2, t, 64, Kind::Float);
    let (q, k, v) = (
        q.set_requires_grad(true),
        k.set_requires_grad(true),
        v.set_requires_grad(true),
    );
    let ours = super::gather_attention(super::RadialInputs {
        q: &q,
        k: &k,
        v: &v,
        key_padding: Some(&pad),
        layout: &layout,
        block,
    });
    let mask = layout.host.token_mask(block, t as usize, 0, dev);
    let allowed = mask
        .unsqueeze(0)
        .logical_and(&pad.logical_not().unsqueeze(1));
    let (want, _) = reference(&q, &k, &v, &allowed);
    let w = Tensor::randn([2, 2, t, 64], (Kind::Float, dev));
    let grads = |o: &Tensor| {
        Tensor::run_backward(&[(o * &w).sum(Kind::Float)], &[&q, &k, &v], false, false)
    };
    let e = max_err(&ours, &want);
    assert!(e < 1e-4, "forward {e}");
    for (a, b) in grads(&ours).iter().zip(grads(&want).iter()) {
        let e = max_err(a, b);
        assert!(e < 1e-3, "grad {e}");
    }
}
