//! Dense masked attention: the reference every sparse backend is tested against.

use tch::Tensor;

use crate::Attention;

/// softmax(q k^T / sqrt(D) with padded keys at -inf) v through libtorch's fused
/// `scaled_dot_product_attention`: one call that picks flash / memory-efficient kernels on CUDA
/// (softmax accumulated in fp32 for half-precision inputs) and the math path on the CPU.
#[derive(Debug, Default, Clone, Copy)]
pub struct DenseAttention;

impl Attention for DenseAttention {
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, key_padding: Option<&Tensor>) -> Tensor {
        // SDPA's boolean mask says which keys take part: the inverse of a padding mask.
        let allowed = key_padding.map(|pad| pad.logical_not().unsqueeze(1).unsqueeze(1)); // [B, 1, 1, Nk]
        Tensor::scaled_dot_product_attention(q, k, v, allowed.as_ref(), 0.0, false, None, false)
    }

    fn name(&self) -> &'static str {
        "dense"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Attention by explicit loops in f64, independent of the tensor code path.
    fn naive(q: &[f64], k: &[f64], v: &[f64], n: usize, d: usize, pad: &[bool]) -> Vec<f64> {
        let mut out = vec![0.0; n * d];
        for i in 0..n {
            let s: Vec<f64> = (0..n)
                .map(|j| {
                    if pad[j] {
                        f64::NEG_INFINITY
                    } else {
                        (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f64>() / (d as f64).sqrt()
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for j in 0..n {
                for c in 0..d {
                    out[i * d + c] += e[j] / z * v[j * d + c];
                }
            }
        }
        out
    }

    #[test]
    fn matches_explicit_loops_and_ignores_padded_keys() {
        tch::manual_seed(0);
        let (n, d) = (7usize, 8usize);
        let opts = (Kind::Double, Device::Cpu);
        let (q, k, v) = (
            Tensor::randn([1, 1, 7, 8], opts),
            Tensor::randn([1, 1, 7, 8], opts),
            Tensor::randn([1, 1, 7, 8], opts),
        );
        let pad = [false, false, false, false, false, true, true];
        let mask = Tensor::from_slice(&pad).view([1, 7]);
        let ours = DenseAttention.attend(&q, &k, &v, Some(&mask));
        let flat = |t: &Tensor| Vec::<f64>::try_from(t.flatten(0, -1)).unwrap();
        let want = naive(&flat(&q), &flat(&k), &flat(&v), n, d, &pad);
        let got = flat(&ours);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // Garbage in padded key/value rows changes nothing.
        let v2 = v.copy();
        let _ = v2.narrow(2, 5, 2).fill_(1e6);
        let again = DenseAttention.attend(&q, &k, &v2, Some(&mask));
        assert!((again - ours).abs().max().double_value(&[]) < 1e-12);
    }
}
