//! Gaussian diffusion's noise schedule (Nichol & Dhariwal's cosine schedule, as MDM), computed once
//! in f64 on the host, and MDM's respacing to fewer sampling steps.

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// MDM's clamp on each beta.
const MAX_BETA: f64 = 0.999;

/// `alpha_bar[t]` for t = 0..T-1.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    pub alpha_bar: Vec<f64>,
}

/// f(u) = cos^2((u + 0.008) / 1.008 * pi / 2).
fn cosine_f(u: f64) -> f64 {
    ((u + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
        .cos()
        .powi(2)
}

impl NoiseSchedule {
    /// beta_i = min(1 - f((i+1)/T) / f(i/T), 0.999); alpha_bar_t = prod_{i<=t} (1 - beta_i).
    pub fn cosine(steps: usize) -> Result<Self> {
        if steps < 2 {
            return Err(Error::Invalid(format!(
                "diffusion needs >= 2 steps, got {steps}"
            )));
        }
        let n = steps as f64;
        let mut product = 1.0;
        let alpha_bar = (0..steps)
            .map(|i| {
                let beta =
                    (1.0 - cosine_f((i as f64 + 1.0) / n) / cosine_f(i as f64 / n)).min(MAX_BETA);
                product *= 1.0 - beta;
                product
            })
            .collect();
        Ok(Self { alpha_bar })
    }

    pub fn len(&self) -> usize {
        self.alpha_bar.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha_bar.is_empty()
    }

    /// `(sqrt(alpha_bar), sqrt(1 - alpha_bar))`, each `[T]` f32 on `device`, for noising in training.
    pub fn noising_tables(&self, device: Device) -> (Tensor, Tensor) {
        let a: Vec<f32> = self.alpha_bar.iter().map(|&x| x.sqrt() as f32).collect();
        let b: Vec<f32> = self
            .alpha_bar
            .iter()
            .map(|&x| (1.0 - x).sqrt() as f32)
            .collect();
        (
            Tensor::from_slice(&a).to_device(device),
            Tensor::from_slice(&b).to_device(device),
        )
    }

    /// Noised rows: `x0 [B, ..]`, `t [B]` int64, `noise` like x0 ->
    /// sqrt(ab_t) x0 + sqrt(1 - ab_t) noise. `tables` from [`Self::noising_tables`].
    pub fn q_sample(tables: &(Tensor, Tensor), x0: &Tensor, t: &Tensor, noise: &Tensor) -> Tensor {
        let shape: Vec<i64> = std::iter::once(-1)
            .chain(std::iter::repeat_n(1, x0.dim() - 1))
            .collect();
        let a = tables.0.index_select(0, t).view(shape.as_slice());
        let b = tables.1.index_select(0, t).view(shape.as_slice());
        (x0 * a + noise * b).to_kind(x0.kind())
    }

    /// Keeps `steps` evenly spaced steps ts_k = round(k (T-1)/(S-1)), k = 0..S-1 (the model is called
    /// with ts_k) and re-derives each kept step's posterior from alpha_bar of consecutive kept steps.
    pub fn respace(&self, steps: usize) -> Result<Respaced> {
        let t_max = self.len();
        if steps == 0 || steps > t_max {
            return Err(Error::Invalid(format!(
                "sampling steps must be in 1..={t_max}, got {steps}"
            )));
        }
        let timesteps: Vec<i64> = if steps == 1 {
            vec![t_max as i64 - 1]
        } else {
            (0..steps)
                .map(|k| (k as f64 * (t_max - 1) as f64 / (steps - 1) as f64).round() as i64)
                .collect()
        };
        let ab: Vec<f64> = timesteps
            .iter()
            .map(|&t| self.alpha_bar[t as usize])
            .collect();
        let mut kept = Vec::with_capacity(steps);
        for k in 0..steps {
            let prev = if k == 0 { 1.0 } else { ab[k - 1] };
            let beta = 1.0 - ab[k] / prev;
            kept.push(KeptStep {
                t: timesteps[k],
                alpha_bar: ab[k],
                alpha_bar_prev: prev,
                coef_x0: beta * prev.sqrt() / (1.0 - ab[k]),
                coef_xt: (1.0 - prev) * (1.0 - beta).sqrt() / (1.0 - ab[k]),
                sigma: (beta * (1.0 - prev) / (1.0 - ab[k])).sqrt(),
            });
        }
        Ok(Respaced { steps: kept })
    }
}

/// One kept step of a respaced schedule and its posterior q(x_{k-1} | x_k, x0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeptStep {
    /// The step the model is called with (0..T-1).
    pub t: i64,
    pub alpha_bar: f64,
    /// alpha_bar of the previous kept step (1 before the first).
    pub alpha_bar_prev: f64,
    /// Posterior mean = coef_x0 x0 + coef_xt x_t.
    pub coef_x0: f64,
    pub coef_xt: f64,
    /// Posterior standard deviation ("fixed small"); unused at k = 0, where no noise is added.
    pub sigma: f64,
}

/// A respaced schedule, kept steps in increasing t; sampling walks it backwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Respaced {
    pub steps: Vec<KeptStep>,
}

impl Respaced {
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Index of the kept step whose t is nearest `fraction * (T - 1)`.
    pub fn nearest(&self, fraction: f64) -> usize {
        let t_max = self.steps.last().map_or(0, |s| s.t) as f64;
        let target = fraction.clamp(0.0, 1.0) * t_max;
        (0..self.len())
            .min_by(|&a, &b| {
                let da = (self.steps[a].t as f64 - target).abs();
                let db = (self.steps[b].t as f64 - target).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(0)
    }
}

/// Rows of `t`'s dtype on its device: handy for `Tensor::full`.
pub(crate) fn step_tensor(t: i64, batch: i64, device: Device) -> Tensor {
    Tensor::full([batch], t, (Kind::Int64, device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn cosine_schedule_matches_the_closed_form() {
        // Without the clamp, the product telescopes: alpha_bar_t = f((t+1)/T) / f(0).
        let s = NoiseSchedule::cosine(1000).unwrap();
        assert_eq!(s.len(), 1000);
        for t in [0usize, 1, 10, 250, 500, 900, 990] {
            let closed = cosine_f((t as f64 + 1.0) / 1000.0) / cosine_f(0.0);
            assert_relative_eq!(s.alpha_bar[t], closed, max_relative = 1e-10);
        }
        // The integer-division bug (i / n == 0) would make every beta equal to beta_0.
        assert!(s.alpha_bar[0] > 0.9999 && s.alpha_bar[999] < 1e-6);
        assert!(s.alpha_bar.windows(2).all(|w| w[1] < w[0]));
        // The clamp binds at the very end only.
        let last_beta = 1.0 - s.alpha_bar[999] / s.alpha_bar[998];
        assert_relative_eq!(last_beta, MAX_BETA, max_relative = 1e-12);
    }

    #[test]
    fn respacing_keeps_mdm_steps_and_posteriors() {
        let s = NoiseSchedule::cosine(1000).unwrap();
        let r = s.respace(50).unwrap();
        let ts: Vec<i64> = r.steps.iter().map(|k| k.t).collect();
        assert_eq!((ts[0], ts[1], ts[2], ts[49]), (0, 20, 41, 999));
        assert_eq!(ts[25], (25.0f64 * 999.0 / 49.0).round() as i64);
        // Full respacing reproduces the plain posterior: beta_t = 1 - ab_t / ab_{t-1}.
        let full = s.respace(1000).unwrap();
        for t in [1usize, 500, 998] {
            let k = full.steps[t];
            let beta = 1.0 - s.alpha_bar[t] / s.alpha_bar[t - 1];
            let (ab, abp) = (s.alpha_bar[t], s.alpha_bar[t - 1]);
            assert_relative_eq!(
                k.coef_x0,
                beta * abp.sqrt() / (1.0 - ab),
                max_relative = 1e-12
            );
            assert_relative_eq!(
                k.sigma.powi(2),
                beta * (1.0 - abp) / (1.0 - ab),
                max_relative = 1e-12
            );
        }
        // Posterior mean of a noiseless x_t = sqrt(ab) x0 returns sqrt(ab_prev) x0.
        for k in &r.steps {
            let mean = k.coef_x0 + k.coef_xt * k.alpha_bar.sqrt();
            assert_relative_eq!(mean, k.alpha_bar_prev.sqrt(), max_relative = 1e-9);
        }
        assert_eq!(s.respace(1).unwrap().steps[0].t, 999);
        assert!(s.respace(0).is_err() && s.respace(1001).is_err());
        assert_eq!(r.nearest(0.5), 24); // t 489 and 510 tie around 499.5: the first wins
        assert_eq!((r.nearest(0.0), r.nearest(1.0)), (0, 49));
    }

    #[test]
    fn q_sample_mixes_by_the_schedule() {
        let s = NoiseSchedule::cosine(100).unwrap();
        let tables = s.noising_tables(Device::Cpu);
        let x0 = Tensor::ones([2, 3, 4], (Kind::Float, Device::Cpu));
        let noise = x0.full_like(2.0);
        let t = Tensor::from_slice(&[0i64, 99]);
        let xt = NoiseSchedule::q_sample(&tables, &x0, &t, &noise);
        for (row, ti) in [(0i64, 0usize), (1, 99)] {
            let want = s.alpha_bar[ti].sqrt() + 2.0 * (1.0 - s.alpha_bar[ti]).sqrt();
            let got = xt.get(row).mean(Kind::Double).double_value(&[]);
            assert_relative_eq!(got, want, max_relative = 1e-6);
        }
        assert!(NoiseSchedule::cosine(1).is_err());
    }
}
