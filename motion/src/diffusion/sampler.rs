//! The sampling loop: ancestral posterior sampling (DDPM, "fixed small" variance) or deterministic
//! DDIM (eta 0) over a respaced schedule. The model enters through a closure that maps
//! (x_t, kept step) to a clean estimate x0_hat, so guidance (CFG, guide tokens) lives with the caller.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::diffusion::schedule::{KeptStep, Respaced};
use crate::error::Result;

/// How x_{k-1} follows from x_k and x0_hat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Ancestral: the posterior mean plus sigma_k noise (MDM's default).
    #[default]
    Ddpm,
    /// Deterministic DDIM (eta = 0).
    Ddim,
}

/// A finished walk: the final sample and the last clean estimate (equal for both samplers, kept
/// apart so that refinement can re-noise either).
#[derive(Debug)]
pub struct Walk {
    pub x: Tensor,
    pub x0: Tensor,
}

/// Walks `schedule` from kept step `start` (inclusive) down to step 0. `x [N, T, 263]` is x at step
/// `start`; `denoise(x_t, step, k)` returns x0_hat like `x`; `on_step(k)` is called after each step.
/// Noise comes from libtorch's generator: seed it for a repeatable run.
pub fn walk(
    schedule: &Respaced,
    kind: SamplerKind,
    mut x: Tensor,
    start: usize,
    denoise: &mut dyn FnMut(&Tensor, &KeptStep, usize) -> Result<Tensor>,
    on_step: &mut dyn FnMut(usize),
) -> Result<Walk> {
    let mut x0 = x.zeros_like();
    for k in (0..=start.min(schedule.len().saturating_sub(1))).rev() {
        let step = &schedule.steps[k];
        x0 = denoise(&x, step, k)?;
        x = match kind {
            SamplerKind::Ddpm => {
                let mean = &x0 * step.coef_x0 + &x * step.coef_xt;
                if k > 0 {
                    mean + x.randn_like() * step.sigma
                } else {
                    mean
                }
            }
            SamplerKind::Ddim => {
                let eps = (&x - &x0 * step.alpha_bar.sqrt()) / (1.0 - step.alpha_bar).sqrt();
                &x0 * step.alpha_bar_prev.sqrt() + eps * (1.0 - step.alpha_bar_prev).sqrt()
            }
        };
        on_step(k);
    }
    Ok(Walk { x, x0 })
}

/// x at kept step `step` from a clean `x0`: sqrt(ab) x0 + sqrt(1 - ab) noise (refinement rounds).
pub fn renoise(x0: &Tensor, step: &KeptStep) -> Tensor {
    x0 * step.alpha_bar.sqrt() + x0.randn_like() * (1.0 - step.alpha_bar).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::schedule::NoiseSchedule;
    use tch::{Device, Kind};

    /// With a perfect denoiser (always the true x0), both samplers end exactly at x0, and DDIM's
    /// trajectory stays on the line sqrt(ab) x0 + sqrt(1-ab) eps with a constant eps.
    #[test]
    fn a_perfect_denoiser_lands_on_its_target() {
        let _rng = crate::global_rng();
        let schedule = NoiseSchedule::cosine(1000).unwrap().respace(20).unwrap();
        tch::manual_seed(3);
        let target = Tensor::randn([2, 8, 5], (Kind::Double, Device::Cpu));
        for kind in [SamplerKind::Ddpm, SamplerKind::Ddim] {
            let start = Tensor::randn([2, 8, 5], (Kind::Double, Device::Cpu));
            let mut calls = Vec::new();
            let mut den = |_: &Tensor, s: &KeptStep, k: usize| {
                calls.push((k, s.t));
                Ok(target.copy())
            };
            let done = walk(&schedule, kind, start, 19, &mut den, &mut |_| {}).unwrap();
            assert!((done.x - &target).abs().max().double_value(&[]) < 1e-12);
            assert_eq!(calls.len(), 20);
            assert_eq!((calls[0], calls[19]), ((19, 999), (0, 0)));
        }
        // DDIM: x_k = sqrt(ab_k) x0 + sqrt(1 - ab_k) eps for the eps implied by the start.
        let eps = Tensor::randn([1, 4, 3], (Kind::Double, Device::Cpu));
        let x0 = Tensor::randn([1, 4, 3], (Kind::Double, Device::Cpu));
        let top = schedule.steps[19];
        let x_start = &x0 * top.alpha_bar.sqrt() + &eps * (1.0 - top.alpha_bar).sqrt();
        let mut seen = Vec::new();
        let mut den = |x: &Tensor, s: &KeptStep, _: usize| {
            seen.push((x.copy(), s.alpha_bar));
            Ok(x0.copy())
        };
        walk(
            &schedule,
            SamplerKind::Ddim,
            x_start,
            19,
            &mut den,
            &mut |_| {},
        )
        .unwrap();
        for (x, ab) in seen {
            let want = &x0 * ab.sqrt() + &eps * (1.0 - ab).sqrt();
            assert!((x - want).abs().max().double_value(&[]) < 1e-9);
        }
    }

    /// DDPM's step is the posterior: x_{k-1} ~ N(coef_x0 x0 + coef_xt x_k, sigma_k^2).
    #[test]
    fn ddpm_step_has_the_posterior_mean_and_spread() {
        let _rng = crate::global_rng();
        let schedule = NoiseSchedule::cosine(1000).unwrap().respace(10).unwrap();
        tch::manual_seed(0);
        let x5 = Tensor::full([200_000], 0.5, (Kind::Double, Device::Cpu));
        let x0 = x5.ones_like();
        let mut received = Vec::new();
        let mut den = |x: &Tensor, _: &KeptStep, k: usize| {
            received.push((k, x.copy()));
            Ok(x0.copy())
        };
        walk(&schedule, SamplerKind::Ddpm, x5, 5, &mut den, &mut |_| {}).unwrap();
        let (k, x4) = &received[1];
        assert_eq!(*k, 4);
        let s = schedule.steps[5];
        let mean = x4.mean(Kind::Double).double_value(&[]);
        let std = x4.std(true).double_value(&[]);
        assert!(
            (mean - (s.coef_x0 + 0.5 * s.coef_xt)).abs() < 3e-3 * (1.0 + s.sigma),
            "{mean}"
        );
        assert!((std / s.sigma - 1.0).abs() < 0.01, "{std} vs {}", s.sigma);
    }

    #[test]
    fn renoise_uses_the_schedule() {
        let _rng = crate::global_rng();
        let s = NoiseSchedule::cosine(1000).unwrap().respace(50).unwrap();
        tch::manual_seed(1);
        let x0 = Tensor::full([100_000], 2.0, (Kind::Double, Device::Cpu));
        let step = s.steps[25];
        let x = renoise(&x0, &step);
        let mean = x.mean(Kind::Double).double_value(&[]);
        let std = x.std(true).double_value(&[]);
        assert!((mean - 2.0 * step.alpha_bar.sqrt()).abs() < 0.01, "{mean}");
        assert!((std - (1.0 - step.alpha_bar).sqrt()).abs() < 0.01, "{std}");
    }
}
