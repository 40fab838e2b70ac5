use tch::{Kind, Tensor};

/// Euclidean distances `[N, M]` between rows of `a [N, E]` and `b [M, E]`, computed in f64 (the
/// expanded |a|^2 - 2ab + |b|^2 form loses digits for close rows, so clamp at 0 before the root).
pub fn euclidean_distances(a: &Tensor, b: &Tensor) -> Tensor {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let aa = a.square().sum_dim_intlist(-1, true, Kind::Double); // [N, 1]
    let bb = b
        .square()
        .sum_dim_intlist(-1, true, Kind::Double)
        .transpose(0, 1); // [1, M]
    (aa - a.matmul(&b.transpose(0, 1)) * 2.0 + bb)
        .clamp_min(0.0)
        .sqrt()
}

/// Top-1..`k` R-precision of text `[N, E]` vs motion `[N, E]` embeddings (row i matches row i): the
/// fraction of texts whose own motion is among the k nearest motions. Ties count against the match.
pub fn r_precision(text: &Tensor, motion: &Tensor, k: usize) -> Vec<f64> {
    let d = euclidean_distances(text, motion); // [N, N]
    let own = d.diagonal(0, 0, 1).unsqueeze(1); // [N, 1]
                                                // Rank of the matching motion = how many motions are at least as close (excluding itself).
    let closer = d
        .le_tensor(&own)
        .to_kind(Kind::Int64)
        .sum_dim_intlist(1, false, Kind::Int64)
        - 1;
    let n = text.size()[0] as f64;
    (1..=k as i64)
        .map(|top| {
            closer
                .lt(top)
                .to_kind(Kind::Double)
                .sum(Kind::Double)
                .double_value(&[])
                / n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn distances_match_the_definition() {
        let a = Tensor::from_slice(&[0.0, 0.0, 3.0, 4.0]).reshape([2, 2]);
        let b = Tensor::from_slice(&[0.0, 0.0, 6.0, 8.0, 3.0, 4.0]).reshape([3, 2]);
        let d = Vec::<f64>::try_from(euclidean_distances(&a, &b).flatten(0, -1)).unwrap();
        assert_eq!(d, vec![0.0, 10.0, 5.0, 5.0, 5.0, 0.0]);
    }

    #[test]
    fn r_precision_on_constructed_rankings() {
        // Motions on a line at 0, 10, 20, 30; texts placed so that the true motion ranks 1st, 2nd, 3rd, 4th.
        let motion = Tensor::from_slice(&[0.0, 10.0, 20.0, 30.0]).reshape([4, 1]);
        let text = Tensor::from_slice(&[0.0, 14.0, 6.0, 1.0]).reshape([4, 1]);
        // text 0 -> motion 0 rank 1; text 1 (14) -> motion 1 (10): nearest is 10 -> rank 1;
        // text 2 (6) -> motion 2 (20): 10, 0 closer -> rank 3; text 3 (1) -> motion 3 (30): rank 4.
        let r = r_precision(&text, &motion, 3);
        assert_eq!(r, vec![0.5, 0.5, 0.75]);
        let same = Tensor::randn([32, 8], (Kind::Double, Device::Cpu));
        assert_eq!(r_precision(&same, &same, 1), vec![1.0]);
    }
}
