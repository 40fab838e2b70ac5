//! Block-gather radial attention: for each query block, gather its kept key/value blocks into one
//! dense tile, then batched matmul, masked softmax, matmul. Plain libtorch ops, so it runs on any
//! device and libtorch's autograd differentiates it (training). Memory is O(n log n): the gathered
//! keys hold nb * R blocks, R the longest row (O(log nb)), instead of nb * nb.

use tch::{Kind, Tensor};

use super::mask::DeviceLayout;
use super::RadialInputs;

/// Pads `x [B, H, T, D]` along T to `tp` tokens with zeros.
fn pad_tokens(x: &Tensor, tp: i64) -> Tensor {
    let t = x.size()[2];
    if t == tp {
        x.shallow_clone()
    } else {
        x.constant_pad_nd([0, 0, 0, tp - t])
    }
}

/// `x [B, H, nb * block, D]` -> `[B, H, nb, R * block, D]`: row i's kept blocks side by side,
/// padded slots repeating block 0 (masked out by the caller).
pub fn gather_blocks(x: &Tensor, layout: &DeviceLayout, block: usize) -> Tensor {
    let (b, h, _, d) = x.size4().expect("x is [B, H, T, D]");
    let (nb, r, bl) = (layout.host.nb as i64, layout.max_row as i64, block as i64);
    x.view([b, h, nb, bl, d])
        .index_select(2, &layout.gather_idx) // [B, H, nb * R, bl, D]
        .view([b, h, nb, r * bl, d])
}

/// [`RadialInputs`] -> `[B, H, T, D]` attending only the layout's kept blocks. Lengths that are not
/// a multiple of `block` are padded and the padding masked. Scores and softmax in fp32 for
/// half-precision inputs.
pub fn gather_attention(inputs: RadialInputs) -> Tensor {
    let RadialInputs {
        q,
        k,
        v,
        key_padding,
        layout,
        block,
    } = inputs;
    let (b, h, t, d) = q.size4().expect("q is [B, H, T, D]");
    let (nb, r, bl) = (layout.host.nb as i64, layout.max_row as i64, block as i64);
    let tp = nb * bl;
    assert!(
        tp >= t && tp - t < bl,
        "layout of {nb} blocks for {t} tokens"
    );
    let device = q.device();

    // 1. Kept key/value blocks per query block.
    let qb = pad_tokens(q, tp).view([b, h, nb, bl, d]); // [B, H, nb, bl, D]
    let kg = gather_blocks(&pad_tokens(k, tp), layout, block); // [B, H, nb, R*bl, D]
    let vg = gather_blocks(&pad_tokens(v, tp), layout, block); // [B, H, nb, R*bl, D]

    // 2. Which gathered keys are real: not padding (input or tail) and in a filled slot.
    let real = match key_padding {
        Some(p) => p.logical_not(),
        None => Tensor::ones([b, t], (Kind::Bool, device)),
    }; // [B, T]
    let tail = Tensor::zeros([b, tp - t], (Kind::Bool, device));
    let real = Tensor::cat(&[real, tail], 1).view([b, nb, bl]); // [B, nb, bl]
    let allowed = real
        .index_select(1, &layout.gather_idx) // [B, nb * R, bl]
        .view([b, nb, r, bl])
        .logical_and(&layout.slot_valid.view([1, nb, r, 1])) // [B, nb, R, bl]
        .view([b, 1, nb, 1, r * bl]);

    // 3. Masked softmax over the gathered keys, then the weighted sum of values.
    let scale = 1.0 / (d as f64).sqrt();
    let work = if q.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let scores = qb.matmul(&kg.transpose(-1, -2)).to_kind(work) * scale; // [B, H, nb, bl, R*bl]
    let probs = scores
        .masked_fill(&allowed.logical_not(), f64::NEG_INFINITY)
        .softmax(-1, work)
        .to_kind(q.kind());
    probs
        .matmul(&vg) // [B, H, nb, bl, D]
        .view([b, h, tp, d])
        .narrow(2, 0, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::{BlockRule, LayoutCache};
    use tch::Device;

    const RULE: BlockRule = BlockRule {
        dense_core: 1,
        decay: 1,
    };

    /// SDPA with the expanded token mask and the padding: the dense masked reference.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, pad: &Tensor, mask: &Tensor) -> Tensor {
        let allowed = mask
            .unsqueeze(0)
            .logical_and(&pad.logical_not().unsqueeze(1)); // [B, T, T]
        Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            Some(&allowed.unsqueeze(1)),
            0.0,
            false,
            None,
            false,
        )
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn equals_dense_masked_reference_with_gradients() {
        tch::manual_seed(1);
        let (b, h, t, d, block) = (2i64, 3i64, 45i64, 8i64, 4usize);
        let cache = LayoutCache::default();
        let layout = cache.get((t as usize).div_ceil(block), RULE, Device::Cpu);
        assert!(layout.host.density() < 0.6, "the case must be sparse");
        let mask = layout.host.token_mask(block, t as usize, 0, Device::Cpu);
        // Second sequence: last 6 frames are padding (padding rows included in the output).
        let pad = Tensor::zeros([b, t], (Kind::Bool, Device::Cpu));
        let _ = pad.narrow(0, 1, 1).narrow(1, t - 6, 6).fill_(1);
        let make =
            || Tensor::randn([b, h, t, d], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (q, k, v) = (make(), make(), make());
        let ours = gather_attention(RadialInputs {
            q: &q,
            k: &k,
            v: &v,
            key_padding: Some(&pad),
            layout: &layout,
            block,
        });
        let want = reference(&q, &k, &v, &pad, &mask);
        assert!(
            max_diff(&ours, &want) < 1e-5,
            "forward {}",
            max_diff(&ours, &want)
        );
        let w = Tensor::randn([b, h, t, d], (Kind::Float, Device::Cpu));
        let grads = |out: &Tensor| {
            Tensor::run_backward(&[(out * &w).sum(Kind::Float)], &[&q, &k, &v], false, false)
        };
        for (name, (a, e)) in ["q", "k", "v"]
            .iter()
            .zip(grads(&ours).iter().zip(grads(&want).iter()))
        {
            assert!(max_diff(a, e) < 1e-5, "grad {name}: {}", max_diff(a, e));
            assert!(
                a.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "grad {name} is zero"
            );
        }
    }

    #[test]
    fn gathered_keys_grow_as_n_log_n() {
        let (b, h, d, block) = (1i64, 2i64, 4i64, 8usize);
        let cache = LayoutCache::default();
        for nb in [16usize, 64, 256] {
            let layout = cache.get(nb, RULE, Device::Cpu);
            let x = Tensor::zeros([b, h, (nb * block) as i64, d], (Kind::Float, Device::Cpu));
            let g = gather_blocks(&x, &layout, block);
            let elems = g.numel();
            assert_eq!(elems, (b * h * d) as usize * nb * layout.max_row * block);
            // R <= the design's row bound 4 + 2 (log2 nb + 1) for W0 = 1: O(log nb), not nb.
            assert!(
                layout.max_row <= RULE.row_bound(nb),
                "nb {nb}: R {}",
                layout.max_row
            );
        }
    }
}
