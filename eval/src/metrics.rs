//! The HumanML3D metrics as pure functions of embeddings (reference: `utils/metrics.py` and the
//! evaluation loop of `final_evaluations.py`), all in f64:
//! FID, Diversity, MultiModality, MM-Dist and R-precision over batches of exactly 32, plus the
//! replication summary (mean and 95% half-width 1.96 * std / sqrt(R), std over replications
//! with divisor R as the reference's `np.std`).

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::retrieval::r_precision;

/// Pairs per R-precision batch: the reference ranks each text against 32 motions.
pub const R_PRECISION_BATCH: usize = 32;

fn rows(what: &str, t: &Tensor) -> Result<(usize, i64)> {
    match t.size().as_slice() {
        [n, e] => Ok((*n as usize, *e)),
        other => Err(Error::Shape {
            what: what.into(),
            expected: "[N, E]".into(),
            got: other.to_vec(),
        }),
    }
}

/// Mean `[E]` and covariance `[E, E]` (divisor N - 1, as `np.cov`) of `x [N, E]`, in f64.
fn moments(x: &Tensor) -> (Tensor, Tensor) {
    let x = x.to_kind(Kind::Double);
    let n = x.size()[0] as f64;
    let mu = x.mean_dim(0, false, Kind::Double);
    let c = &x - &mu;
    (mu, c.tr().matmul(&c) / (n - 1.0))
}

/// Square root of a symmetric positive semi-definite matrix, tiny negative eigenvalues (round-off)
/// clamped to 0.
fn sqrt_psd(m: &Tensor) -> Tensor {
    let (w, v) = ((m + m.tr()) / 2.0).linalg_eigh("L");
    (&v * w.clamp_min(0.0).sqrt().unsqueeze(0)).matmul(&v.tr())
}

/// Frechet distance between Gaussians fitted to `a [N, E]` and `b [M, E]`:
/// |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrtm(S_a S_b)). The last trace is computed as
/// tr(sqrtm(sqrt(S_a) S_b sqrt(S_a))) (same eigenvalues, but symmetric, so `eigh` applies).
pub fn fid(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (n, e) = rows("FID embeddings a", a)?;
    let (m, e2) = rows("FID embeddings b", b)?;
    if e != e2 {
        return Err(Error::Invalid(format!(
            "FID of {e}-d and {e2}-d embeddings; both sets must come from one evaluator"
        )));
    }
    if n < 2 || m < 2 {
        return Err(Error::TooFew {
            what: "embeddings for FID".into(),
            got: n.min(m),
            need: 2,
            fix: "a covariance needs at least two motions per set".into(),
        });
    }
    let (mu_a, s_a) = moments(a);
    let (mu_b, s_b) = moments(b);
    let root_a = sqrt_psd(&s_a);
    let cross = sqrt_psd(&root_a.matmul(&s_b).matmul(&root_a)).trace();
    let d = (mu_a - mu_b).square().sum(Kind::Double) + s_a.trace() + s_b.trace() - cross * 2.0;
    Ok(d.double_value(&[]))
}

/// Mean distance over `times` pairs: two index sets of `times` rows, each drawn without
/// replacement (the reference's `calculate_diversity`; it needs more rows than pairs).
pub fn diversity(x: &Tensor, times: usize, seed: u64) -> Result<f64> {
    let (n, _) = rows("diversity embeddings", x)?;
    if n <= times {
        return Err(Error::TooFew {
            what: "motions for Diversity".into(),
            got: n,
            need: times + 1,
            fix: format!("generate more motions, or lower diversity_times below {n}"),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = index_tensor(sample(&mut rng, n, times).into_vec(), x.device());
    let second = index_tensor(sample(&mut rng, n, times).into_vec(), x.device());
    Ok(mean_distance(
        &x.index_select(0, &first),
        &x.index_select(0, &second),
    ))
}

/// MultiModality: for each caption's generations `[G, E]`, `times` pairs drawn as in
/// [`diversity`]; the mean distance over all captions and pairs.
pub fn multimodality(groups: &[Tensor], times: usize, seed: u64) -> Result<f64> {
    if groups.is_empty() {
        return Err(Error::TooFew {
            what: "captions for MultiModality".into(),
            got: 0,
            need: 1,
            fix: "give each caption's generations".into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sum = 0.0;
    for (i, g) in groups.iter().enumerate() {
        let (n, _) = rows("MultiModality generations", g)?;
        if n <= times {
            return Err(Error::TooFew {
                what: format!("generations of caption {i} for MultiModality"),
                got: n,
                need: times + 1,
                fix: "generate more motions per caption (the protocol uses 30)".into(),
            });
        }
        let first = index_tensor(sample(&mut rng, n, times).into_vec(), g.device());
        let second = index_tensor(sample(&mut rng, n, times).into_vec(), g.device());
        sum += mean_distance(&g.index_select(0, &first), &g.index_select(0, &second));
    }
    Ok(sum / groups.len() as f64)
}

/// MM-Dist: mean distance between matched rows of `text [N, E]` and `motion [N, E]`.
pub fn mm_dist(text: &Tensor, motion: &Tensor) -> Result<f64> {
    let (n, _) = rows("MM-Dist text embeddings", text)?;
    let (m, _) = rows("MM-Dist motion embeddings", motion)?;
    if n != m || n == 0 {
        return Err(Error::Invalid(format!(
            "MM-Dist of {n} texts and {m} motions; give one motion per text"
        )));
    }
    Ok(mean_distance(text, motion))
}

/// Top-1..3 R-precision over consecutive batches of exactly [`R_PRECISION_BATCH`] matched rows;
/// the remainder is dropped, as the reference's loader (`drop_last=True`) drops it.
pub fn r_precision_batched(text: &Tensor, motion: &Tensor) -> Result<[f64; 3]> {
    let (n, _) = rows("R-precision text embeddings", text)?;
    let (m, _) = rows("R-precision motion embeddings", motion)?;
    if n != m {
        return Err(Error::Invalid(format!(
            "R-precision of {n} texts and {m} motions; give one motion per text"
        )));
    }
    let batches = n / R_PRECISION_BATCH;
    if batches == 0 {
        return Err(Error::TooFew {
            what: "text-motion pairs for R-precision".into(),
            got: n,
            need: R_PRECISION_BATCH,
            fix: "the protocol ranks each text among 32 motions; use a larger test split".into(),
        });
    }
    let mut sum = [0.0; 3];
    for i in 0..batches {
        let start = (i * R_PRECISION_BATCH) as i64;
        let r = r_precision(
            &text.narrow(0, start, R_PRECISION_BATCH as i64),
            &motion.narrow(0, start, R_PRECISION_BATCH as i64),
            3,
        );
        for k in 0..3 {
            sum[k] += r[k];
        }
    }
    Ok(sum.map(|s| s / batches as f64))
}

/// Per row of `x [N, ...]`: whether every value is finite (a generated motion with NaN frames,
/// or its embedding, is not).
pub fn finite_rows(x: &Tensor) -> Vec<bool> {
    let n = x.size()[0];
    let ok = x.isfinite().view([n, -1]).all_dim(1, false);
    Vec::<bool>::try_from(ok).unwrap_or_default()
}

/// Rows of `x [N, E]` whose `valid` flag is set, and how many were dropped: metrics never
/// average over non-finite motions, and the count belongs in the report.
pub fn keep_valid(x: &Tensor, valid: &[bool]) -> Result<(Tensor, usize)> {
    let (n, _) = rows("embeddings", x)?;
    if valid.len() != n {
        return Err(Error::Invalid(format!(
            "{} validity flags for {n} rows; give one per motion",
            valid.len()
        )));
    }
    let kept: Vec<i64> = (0..n as i64).filter(|&i| valid[i as usize]).collect();
    let idx = Tensor::from_slice(&kept).to_device(x.device());
    Ok((x.index_select(0, &idx), n - kept.len()))
}

/// Row indices on the device of the rows they select.
fn index_tensor(idx: Vec<usize>, device: tch::Device) -> Tensor {
    Tensor::from_slice(&idx.into_iter().map(|i| i as i64).collect::<Vec<_>>()).to_device(device)
}

fn mean_distance(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .square()
        .sum_dim_intlist(1, false, Kind::Double)
        .sqrt();
    d.mean(Kind::Double).double_value(&[])
}

/// One metric over R replications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replications {
    pub mean: f64,
    /// Half-width of the 95% interval: 1.96 * std / sqrt(R).
    pub interval95: f64,
    pub count: usize,
    pub values: Vec<f64>,
}

impl Replications {
    pub fn new(values: Vec<f64>) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::TooFew {
                what: "replications".into(),
                got: 0,
                need: 1,
                fix: "run at least one replication".into(),
            });
        }
        let r = values.len() as f64;
        let mean = values.iter().sum::<f64>() / r;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r;
        Ok(Replications {
            mean,
            interval95: 1.96 * var.sqrt() / r.sqrt(),
            count: values.len(),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use tch::Device;

    fn gauss(n: i64, e: i64) -> Tensor {
        Tensor::randn([n, e], (Kind::Double, Device::Cpu))
    }

    #[test]
    fn fid_of_identical_and_shifted_sets() {
        tch::manual_seed(3);
        let a = gauss(500, 6);
        assert_abs_diff_eq!(fid(&a, &a).unwrap(), 0.0, epsilon = 1e-9);
        // A pure shift leaves the covariances equal: FID = |shift|^2 = 0.5^2 * 6.
        let shifted = &a + 0.5;
        assert_abs_diff_eq!(fid(&a, &shifted).unwrap(), 1.5, epsilon = 1e-9);
        // Scaled by 2: mu_b = 2 mu_a, S_b = 4 S_a, so FID = |mu_a|^2 + tr(S_a) + 4 tr(S_a) - 4 tr(S_a).
        let (mu, s) = moments(&a);
        let want = mu.square().sum(Kind::Double).double_value(&[]) + s.trace().double_value(&[]);
        assert_abs_diff_eq!(fid(&a, &(&a * 2.0)).unwrap(), want, epsilon = 1e-8);
    }

    #[test]
    fn fid_against_a_direct_matrix_square_root() {
        tch::manual_seed(4);
        let a = gauss(300, 4);
        let b = gauss(300, 4).matmul(
            &Tensor::from_slice(&[
                1.0, 0.3, 0.0, 0.0, 0.0, 1.2, 0.1, 0.0, 0.0, 0.0, 0.8, 0.2, 0.0, 0.0, 0.0, 1.5,
            ])
            .view([4, 4]),
        ) + 0.2;
        let (mu_a, s_a) = moments(&a);
        let (mu_b, s_b) = moments(&b);
        // sqrtm(S_a S_b) by Denman-Beavers iteration, independent of eigh.
        let p = s_a.matmul(&s_b);
        let (mut y, mut z) = (p.copy(), Tensor::eye(4, (Kind::Double, Device::Cpu)));
        for _ in 0..60 {
            let y_next = (&y + z.inverse()) / 2.0;
            z = (&z + y.inverse()) / 2.0;
            y = y_next;
        }
        let want = (mu_a - mu_b).square().sum(Kind::Double).double_value(&[])
            + s_a.trace().double_value(&[])
            + s_b.trace().double_value(&[])
            - 2.0 * y.trace().double_value(&[]);
        assert_abs_diff_eq!(fid(&a, &b).unwrap(), want, epsilon = 1e-9);
    }

    #[test]
    fn diversity_and_multimodality_on_fixed_points() {
        // Two points 2 apart, alternating: a pair is 2 apart when its indices differ in parity.
        let x = Tensor::from_slice(&[0.0f64, 0.0, 2.0, 0.0])
            .view([2, 2])
            .repeat([6, 1]); // [12, 2]
        let d = diversity(&x, 5, 9).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let first = sample(&mut rng, 12, 5).into_vec();
        let second = sample(&mut rng, 12, 5).into_vec();
        let want = first
            .iter()
            .zip(&second)
            .filter(|(i, j)| *i % 2 != *j % 2)
            .count() as f64
            * 2.0
            / 5.0;
        assert_abs_diff_eq!(d, want, epsilon = 1e-12);
        let same = Tensor::ones([20, 3], (Kind::Double, Device::Cpu));
        assert_eq!(diversity(&same, 10, 0).unwrap(), 0.0);
        assert!(matches!(
            diversity(&same, 20, 0),
            Err(Error::TooFew { need: 21, .. })
        ));
        // Caption 0's generations coincide, caption 1's alternate 0/4 along x.
        let g0 = Tensor::zeros([12, 2], (Kind::Double, Device::Cpu));
        let g1 = (&x * 2.0).copy();
        let mm = multimodality(&[g0, g1.copy()], 5, 9).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let _ = (sample(&mut rng, 12, 5), sample(&mut rng, 12, 5));
        let f = sample(&mut rng, 12, 5).into_vec();
        let s = sample(&mut rng, 12, 5).into_vec();
        let d1 = f.iter().zip(&s).filter(|(i, j)| *i % 2 != *j % 2).count() as f64 * 4.0 / 5.0;
        assert_abs_diff_eq!(mm, d1 / 2.0, epsilon = 1e-12);
        assert!(multimodality(&[g1.narrow(0, 0, 5)], 5, 0).is_err());
    }

    #[test]
    fn mm_dist_and_batched_r_precision() {
        let t = Tensor::from_slice(&[0.0f64, 0.0, 3.0, 4.0]).view([2, 2]);
        let m = Tensor::from_slice(&[0.0f64, 1.0, 0.0, 0.0]).view([2, 2]);
        assert_abs_diff_eq!(mm_dist(&t, &m).unwrap(), 3.0, epsilon = 1e-12);
        // 70 pairs on a line, texts on their motions except in the second batch, where each
        // text sits next to the following motion (its own motion ranks second): the third
        // batch (6 rows) is dropped.
        let motion = Tensor::arange(70, (Kind::Double, Device::Cpu)).view([70, 1]) * 10.0;
        let text = motion.copy();
        let _ = text.narrow(0, 32, 31).g_add_scalar_(9.0);
        let r = r_precision_batched(&text, &motion).unwrap();
        assert_abs_diff_eq!(r[0], (1.0 + 1.0 / 32.0) / 2.0, epsilon = 1e-12);
        assert_abs_diff_eq!(r[1], 1.0, epsilon = 1e-12);
        let err =
            r_precision_batched(&text.narrow(0, 0, 31), &motion.narrow(0, 0, 31)).unwrap_err();
        assert!(
            err.to_string().contains("31 given, at least 32 needed"),
            "{err}"
        );
    }

    #[test]
    fn nan_rows_are_counted_and_dropped() {
        let mut x = Tensor::ones([4, 3, 2], (Kind::Float, Device::Cpu));
        let _ = x.get(2).get(1).fill_(f64::NAN);
        let _ = x.get(3).get(0).fill_(f64::INFINITY);
        let valid = finite_rows(&x);
        assert_eq!(valid, [true, true, false, false]);
        let emb = Tensor::arange(8, (Kind::Double, Device::Cpu)).view([4, 2]);
        let (kept, dropped) = keep_valid(&emb, &valid).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(
            Vec::<f64>::try_from(kept.flatten(0, -1)).unwrap(),
            [0.0, 1.0, 2.0, 3.0]
        );
        x = x.narrow(0, 0, 2);
        assert!(finite_rows(&x).iter().all(|&v| v));
        assert!(keep_valid(&emb, &[true]).is_err());
    }

    #[test]
    fn replications_summary() {
        let r = Replications::new(vec![1.0, 3.0]).unwrap();
        assert_eq!((r.mean, r.count), (2.0, 2));
        assert_abs_diff_eq!(r.interval95, 1.96 / 2f64.sqrt(), epsilon = 1e-12);
        assert!(Replications::new(vec![]).is_err());
    }
}
