//! Exponential moving average of the parameters (Polyak averaging), the weights that generation
//! and evaluation load. Kept as one flat buffer with the parameters' layout, so an update is one
//! `lerp_` kernel and [`crate::FlatParams::views`] names it for saving.

use tch::Tensor;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Ema {
    decay: f64,
    /// The average `[numel]`, same kind and device as the parameters it follows.
    flat: Tensor,
}

impl Ema {
    /// Starts the average at a copy of `params_flat [numel]`.
    pub fn new(params_flat: &Tensor, decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::Invalid(format!(
                "EMA decay {decay} must lie in [0, 1)"
            )));
        }
        Ok(Ema {
            decay,
            flat: params_flat.detach().copy(),
        })
    }

    /// The decay used after `updates` earlier updates: min(decay, (1 + n) / (10 + n)), the usual
    /// warm-up (as timm's and diffusers' EMA), so that a short run's average is not still mostly
    /// the random initial weights (0.9999 keeps ~37% of them after 10k steps).
    pub fn decay_at(&self, updates: u64) -> f64 {
        let n = updates as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// `ema <- d * ema + (1 - d) * params` with d = [`Self::decay_at`]`(updates)`, as one
    /// `ema.lerp_(params, 1 - d)`. `updates` is the number of earlier updates (the optimizer step),
    /// so a resumed run continues the same sequence.
    pub fn update(&mut self, params_flat: &Tensor, updates: u64) -> Result<()> {
        // params_flat [numel]
        if params_flat.size() != self.flat.size() {
            return Err(Error::Shape {
                expected: format!("parameters {:?}", self.flat.size()),
                got: params_flat.size(),
            });
        }
        let d = self.decay_at(updates);
        let _ = tch::no_grad(|| self.flat.lerp_(params_flat, 1.0 - d));
        Ok(())
    }

    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// The average `[numel]`; resume writes a saved one into it with
    /// [`crate::FlatParams::copy_from_named`].
    pub fn flat(&self) -> &Tensor {
        &self.flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn host(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap()
    }

    #[test]
    fn a_constant_is_approached_geometrically() {
        // e_k = c + d^k (e_0 - c)
        let (d, e0, c) = (0.9, [1.0, -2.0, 0.0], [3.0, 3.0, -1.0]);
        let start = Tensor::from_slice(&e0);
        let target = Tensor::from_slice(&c);
        let mut ema = Ema::new(&start, d).unwrap();
        // Past the warm-up (n >= 80 for d = 0.9) the decay is d itself.
        for n in 0..7 {
            ema.update(&target, 100 + n).unwrap();
        }
        for ((got, e0), c) in host(ema.flat()).iter().zip(e0).zip(c) {
            let want = c + d.powi(7) * (e0 - c);
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert_eq!(host(&start), e0, "the start was copied, not aliased");
    }

    #[test]
    fn a_sequence_gives_the_weighted_sum() {
        // e_k = d^k e_0 + (1 - d) sum_{i=1..k} d^(k-i) x_i, in fp32 against f64.
        let d = 0.75;
        let xs: Vec<f64> = (1..=12).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut ema = Ema::new(&Tensor::from_slice(&[0.5f32]), d).unwrap();
        for (n, x) in xs.iter().enumerate() {
            ema.update(&Tensor::from_slice(&[*x as f32]), 1000 + n as u64)
                .unwrap();
        }
        let k = xs.len() as i32;
        let want = d.powi(k) * 0.5
            + (1.0 - d)
                * xs.iter()
                    .enumerate()
                    .map(|(i, x)| d.powi(k - 1 - i as i32) * x)
                    .sum::<f64>();
        let got = host(ema.flat())[0];
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert_eq!(ema.flat().kind(), Kind::Float);
    }

    #[test]
    fn the_decay_warms_up() {
        let ema = Ema::new(&Tensor::from_slice(&[0.0f32]), 0.9999).unwrap();
        assert!((ema.decay_at(0) - 0.1).abs() < 1e-15);
        assert!((ema.decay_at(90) - 0.91).abs() < 1e-15);
        assert_eq!(ema.decay_at(10_000_000), 0.9999);
        // The first update mostly takes the parameters.
        let mut ema = Ema::new(&Tensor::from_slice(&[0.0f32]), 0.9999).unwrap();
        ema.update(&Tensor::from_slice(&[1.0f32]), 0).unwrap();
        assert!((host(ema.flat())[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn refuses_bad_decay_and_shapes() {
        let p = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let e = Ema::new(&p, 1.0).unwrap_err().to_string();
        assert!(e.contains("decay 1 "), "{e}");
        let mut ema = Ema::new(&p, 0.99).unwrap();
        let e = ema
            .update(&Tensor::zeros([4], (Kind::Float, Device::Cpu)), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[3]") && e.contains("[4]"), "{e}");
    }
}
