//! Dense masked attention: the reference every sparse backend is tested against.

use tch::{Kind, Tensor};

use crate::Attention;

/// softmax(q k^T / sqrt(D) with padded keys at -inf) v, computed in the inputs' dtype with an fp32
/// softmax for half-precision inputs.
#[derive(Debug, Default, Clone, Copy)]
pub struct DenseAttention;

impl Attention for DenseAttention {
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, key_padding: Option<&Tensor>) -> Tensor {
        let d = *q.size().last().expect("q has a head dim") as f64;
        let scores = q.matmul(&k.transpose(-2, -1)) / d.sqrt(); // [B, H, Nq, Nk]
        let scores = match key_padding {
            Some(pad) => scores.masked_fill(&pad.unsqueeze(1).unsqueeze(1), f64::NEG_INFINITY),
            None => scores,
        };
        // Softmax in fp32 at least (fp64 stays fp64).
        let kind = if scores.kind() == Kind::Double {
            Kind::Double
        } else {
            Kind::Float
        };
        let weights = scores.softmax(-1, kind).to_kind(v.kind());
        weights.matmul(v)
    }

    fn name(&self) -> &'static str {
        "dense"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

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
