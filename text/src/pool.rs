use tch::Tensor;

/// `hidden [B, L, E]`, `mask [B, L]` (1 = real token) -> `[B, E]`: the mean over real tokens,
/// L2-normalised (sentence-transformers' mean pooling + Normalize). Padding never contributes; a row
/// with no real token gives zeros rather than NaN.
pub fn masked_mean_l2(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(hidden.kind()).unsqueeze(-1); // [B, L, 1]
    let sum = (hidden * &m).sum_dim_intlist(1, false, hidden.kind()); // [B, E]
    let count = m.sum_dim_intlist(1, false, hidden.kind()).clamp_min(1e-9); // [B, 1]
    let mean = sum / count;
    let norm = mean.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-12);
    (mean / norm).to_kind(hidden.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn pools_real_tokens_only_and_normalises() {
        let hidden = Tensor::from_slice(&[
            3.0, 0.0, 1.0, 4.0, 100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ])
        .reshape([2, 3, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 0, 0, 0, 0]).reshape([2, 3]);
        let out = masked_mean_l2(&hidden, &mask);
        // Row 0: mean of (3,0) and (1,4) = (2,2) -> (1/sqrt2, 1/sqrt2); the padded (100,100) is ignored.
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let want = Tensor::from_slice(&[r, r, 0.0, 0.0]).reshape([2, 2]);
        assert!((out - want).abs().max().double_value(&[]) < 1e-12);
    }

    #[test]
    fn batch_equals_one_by_one() {
        tch::manual_seed(1);
        let hidden = Tensor::randn([3, 5, 4], (Kind::Double, Device::Cpu));
        let mask =
            Tensor::from_slice(&[1i64, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]).reshape([3, 5]);
        let batch = masked_mean_l2(&hidden, &mask);
        for i in 0..3 {
            let n = mask.get(i).sum(Kind::Int64).int64_value(&[]);
            let one = masked_mean_l2(
                &hidden.get(i).narrow(0, 0, n).unsqueeze(0),
                &Tensor::ones([1, n], (Kind::Int64, Device::Cpu)),
            );
            assert!((batch.get(i) - one.get(0)).abs().max().double_value(&[]) < 1e-12);
        }
    }
}
