//! AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019) over flat buffers,
//! and gradient-norm clipping. tch's optimizers wrap `torch::optim` and expose no state, so a
//! checkpoint could not hold the moments; this one keeps `m` and `v` as two flat fp32 tensors with
//! the parameters' layout ([`FlatParams`]), and a step is eight kernels whatever the model's size.
//!
//! The update is libtorch's `torch::optim::AdamW` (torch/csrc/api/src/optim/adamw.cpp), with the
//! bias corrections folded into host scalars so that no step reads anything back from the device:
//! ```text
//! p <- p * (1 - lr * wd)
//! m <- b1 m + (1 - b1) g                v <- b2 v + (1 - b2) g^2
//! p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//!    = p - [lr sqrt(1 - b2^t) / (1 - b1^t)] * m / (sqrt(v) + eps sqrt(1 - b2^t))
//! ```

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::flat::FlatParams;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Decay of the first moment (mean of the gradient).
    pub beta1: f64,
    /// Decay of the second moment (mean of the squared gradient).
    pub beta2: f64,
    /// Added to the denominator, against division by ~0.
    pub eps: f64,
    /// Decoupled weight decay: each step multiplies the parameters by `1 - lr * weight_decay`.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's Adam defaults with MDM's weight decay of 0.
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    pub fn validate(&self) -> Result<()> {
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::Invalid(format!("{name} {beta} must lie in [0, 1)")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Invalid(format!(
                "eps {} must be a finite number > 0",
                self.eps
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::Invalid(format!(
                "weight_decay {} must be a finite number >= 0",
                self.weight_decay
            )));
        }
        Ok(())
    }
}

/// AdamW state for one flat fp32 parameter buffer.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    /// First moment `[numel]` fp32.
    m: Tensor,
    /// Second moment `[numel]` fp32.
    v: Tensor,
    /// Steps taken; the bias corrections depend on it.
    step: u64,
}

impl AdamW {
    /// Zero moments for `numel` fp32 parameters on `device` (the master weights: with bf16
    /// training the optimizer still steps fp32 copies).
    pub fn new(cfg: AdamWConfig, numel: i64, device: Device) -> Result<Self> {
        cfg.validate()?;
        if numel < 1 {
            return Err(Error::Invalid(format!(
                "AdamW needs at least one parameter, got numel {numel}"
            )));
        }
        let zeros = || Tensor::zeros([numel], (Kind::Float, device));
        Ok(AdamW {
            cfg,
            m: zeros(),
            v: zeros(),
            step: 0,
        })
    }

    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// Steps taken so far (restored by [`Self::load_state`]).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One AdamW step at learning rate `lr`: updates `params` in place (under `no_grad`, so a
    /// [`FlatParams`] buffer updates the model). Eight kernels, no host sync.
    pub fn step(&mut self, params: &Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        // params [N] fp32 (in place), grad [N] fp32
        for (what, t) in [("params", params), ("grad", grad)] {
            if t.size() != self.m.size() {
                return Err(Error::Shape {
                    expected: format!("{what} {:?}", self.m.size()),
                    got: t.size(),
                });
            }
            if t.kind() != Kind::Float {
                return Err(Error::Invalid(format!(
                    "{what} is {:?}; AdamW steps fp32 master weights with fp32 gradients",
                    t.kind()
                )));
            }
            if t.device() != self.m.device() {
                return Err(Error::Invalid(format!(
                    "{what} on {:?}, the optimizer state on {:?}",
                    t.device(),
                    self.m.device()
                )));
            }
        }
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Invalid(format!(
                "learning rate {lr} must be finite and >= 0"
            )));
        }
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.cfg;
        self.step += 1;
        let t = self.step as f64;
        let bc1 = 1.0 - beta1.powf(t);
        let bc2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let step_size = lr * bc2_sqrt / bc1;
        tch::no_grad(|| {
            let mut p = params.shallow_clone();
            if weight_decay != 0.0 {
                let _ = p.g_mul_scalar_(1.0 - lr * weight_decay);
            }
            let _ = self.m.lerp_(grad, 1.0 - beta1);
            let _ = self.v.lerp_(&grad.square(), 1.0 - beta2);
            let denom = self.v.sqrt().g_add_scalar_(eps * bc2_sqrt);
            let _ = p.addcdiv_(&(&self.m * -step_size), &denom);
        });
        Ok(())
    }

    /// The state to save, with the model's keys: `m.<name>` and `v.<name>` (views of the moments,
    /// shaped like the variables) and `step` (a 0-d int64 tensor), so the file is one safetensors
    /// holding everything a resume needs.
    pub fn state(&self, layout: &FlatParams) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * layout.names().count() + 1);
        for (prefix, flat) in [("m.", &self.m), ("v.", &self.v)] {
            out.extend(
                layout
                    .views(flat)?
                    .into_iter()
                    .map(|(name, t)| (format!("{prefix}{name}"), t)),
            );
        }
        out.push(("step".into(), Tensor::from(self.step as i64)));
        Ok(out)
    }

    /// Restores what [`Self::state`] saved. Strict: a missing, unexpected or misshapen key is an
    /// error naming it, and the state is left unchanged then.
    pub fn load_state(&mut self, layout: &FlatParams, named: &[(String, Tensor)]) -> Result<()> {
        let (mut m, mut v, mut step, mut unexpected) = (Vec::new(), Vec::new(), None, Vec::new());
        for (key, t) in named {
            if key == "step" {
                step = Some(t);
            } else if key.starts_with("m.") {
                m.push((key.clone(), t.shallow_clone()));
            } else if key.starts_with("v.") {
                v.push((key.clone(), t.shallow_clone()));
            } else {
                unexpected.push(key.as_str());
            }
        }
        if !unexpected.is_empty() {
            return Err(Error::Keys(format!(
                "unexpected key(s) {} in the optimizer state",
                unexpected.join(", ")
            )));
        }
        let step = match step {
            None => {
                return Err(Error::Keys(
                    "missing key step in the optimizer state".into(),
                ))
            }
            Some(t) if t.kind() != Kind::Int64 || t.dim() != 0 => {
                return Err(Error::Keys(format!(
                    "step: expected a 0-d int64 tensor, got {:?} of shape {:?}",
                    t.kind(),
                    t.size()
                )))
            }
            Some(t) => i64::try_from(t).map_err(|source| Error::Torch {
                context: "reading step".into(),
                source,
            })?,
        };
        let step = u64::try_from(step)
            .map_err(|_| Error::Keys(format!("step {step} in the optimizer state is negative")))?;
        // Into copies first, so that a bad v leaves m untouched.
        let (new_m, new_v) = (self.m.zeros_like(), self.v.zeros_like());
        layout.copy_from_prefixed(&new_m, &m, "m.")?;
        layout.copy_from_prefixed(&new_v, &v, "v.")?;
        (self.m, self.v, self.step) = (new_m, new_v, step);
        Ok(())
    }
}

/// Scales `grad` in place so that its L2 norm is at most `max_norm` (PyTorch's `clip_grad_norm_`:
/// coefficient `min(1, max_norm / (norm + 1e-6))`), computed on the device without a host sync.
/// Returns the norm before clipping, a 0-d fp32 tensor, for logging.
pub fn clip_grad_norm(grad: &Tensor, max_norm: f64) -> Result<Tensor> {
    // grad [N] (in place) -> norm []
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::Invalid(format!(
            "max_norm {max_norm} must be a finite number > 0"
        )));
    }
    Ok(tch::no_grad(|| {
        let norm = grad.norm();
        let coef = (&norm + 1e-6)
            .reciprocal()
            .g_mul_scalar_(max_norm)
            .clamp_max(1.0);
        let _ = grad.shallow_clone().g_mul_(&coef);
        norm
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig, VarStore};

    fn model(vs: &VarStore) -> impl Module {
        let root = vs.root();
        nn::seq()
            .add(nn::linear(&root / "l1", 4, 8, Default::default()))
            .add_fn(|x| x.gelu("none"))
            .add(nn::linear(&root / "l2", 8, 3, Default::default()))
    }

    /// Batch `k` of a fixed stream: inputs [5, 4] and targets [5, 3] that depend only on `k`.
    fn batch(k: i64) -> (Tensor, Tensor) {
        let opts = (Kind::Float, Device::Cpu);
        let x = (Tensor::arange(20, opts).view([5, 4]) * (0.37 * (k + 1) as f64)).sin();
        let y = (Tensor::arange(15, opts).view([5, 3]) * (0.11 * (k + 2) as f64)).cos();
        (x, y)
    }

    fn loss(net: &impl Module, k: i64) -> Tensor {
        let (x, y) = batch(k);
        (net.forward(&x) - y).square().mean(Kind::Float)
    }

    fn max_diff(a: &VarStore, b: &VarStore) -> f64 {
        let (a, b) = (a.variables(), b.variables());
        a.iter()
            .map(|(n, t)| f64::try_from((t - &b[n]).abs().max()).unwrap())
            .fold(0.0, f64::max)
    }

    #[test]
    fn matches_libtorch_adamw_over_twenty_steps() {
        tch::manual_seed(7);
        let reference_vs = VarStore::new(Device::Cpu);
        let reference = model(&reference_vs);
        let mut vs = VarStore::new(Device::Cpu);
        let net = model(&vs);
        vs.copy(&reference_vs).unwrap();
        let flat = FlatParams::new(&vs).unwrap();
        let init = flat.flat().copy();

        let cfg = AdamWConfig {
            weight_decay: 0.01,
            ..AdamWConfig::default()
        };
        let mut opt = nn::AdamW {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            wd: cfg.weight_decay,
            eps: cfg.eps,
            amsgrad: false,
        }
        .build(&reference_vs, 1e-2)
        .unwrap();
        let mut ours = AdamW::new(cfg, flat.numel(), Device::Cpu).unwrap();
        for k in 0..20 {
            let lr = 1e-2 * (1.0 - k as f64 / 40.0); // a changing LR exercises the scalars
            opt.set_lr(lr);
            opt.backward_step(&loss(&reference, k));
            let g = flat.grads(&loss(&net, k)).unwrap();
            ours.step(flat.flat(), &g, lr).unwrap();
        }
        assert_eq!(ours.step_count(), 20);
        let d = max_diff(&vs, &reference_vs);
        assert!(d < 1e-6, "max |ours - libtorch| = {d}");
        let moved = f64::try_from((flat.flat() - &init).abs().max()).unwrap();
        assert!(
            moved > 1e-2,
            "the parameters moved ({moved}), so the check means something"
        );
    }

    #[test]
    fn state_round_trip_resumes_exactly() {
        tch::manual_seed(8);
        let vs = VarStore::new(Device::Cpu);
        let net = model(&vs);
        let flat = FlatParams::new(&vs).unwrap();
        let cfg = AdamWConfig::default();
        let mut opt = AdamW::new(cfg, flat.numel(), Device::Cpu).unwrap();
        for k in 0..5 {
            opt.step(flat.flat(), &flat.grads(&loss(&net, k)).unwrap(), 1e-3)
                .unwrap();
        }
        let state = opt.state(&flat).unwrap();
        assert_eq!(state.len(), 2 * 4 + 1);
        assert!(state
            .iter()
            .any(|(k, t)| k == "v.l1.weight" && t.size() == [8, 4]));
        // Through a safetensors file, as a checkpoint does (the 0-d step included).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("optimizer.safetensors");
        crate::save_safetensors(&file, &state).unwrap();
        let saved = crate::read_safetensors(&file).unwrap();
        let params_at_5 = flat.flat().copy();

        for k in 5..10 {
            opt.step(flat.flat(), &flat.grads(&loss(&net, k)).unwrap(), 1e-3)
                .unwrap();
        }
        let straight = flat.flat().copy();

        flat.sync_from(&params_at_5).unwrap();
        let mut resumed = AdamW::new(cfg, flat.numel(), Device::Cpu).unwrap();
        resumed.load_state(&flat, &saved).unwrap();
        assert_eq!(resumed.step_count(), 5);
        for k in 5..10 {
            resumed
                .step(flat.flat(), &flat.grads(&loss(&net, k)).unwrap(), 1e-3)
                .unwrap();
        }
        assert!(flat.flat().equal(&straight), "bit-exact resume on the CPU");

        let mut bad: Vec<(String, Tensor)> = saved
            .iter()
            .map(|(k, t)| (k.clone(), t.shallow_clone()))
            .collect();
        bad.retain(|(k, _)| k != "m.l2.bias");
        bad.push(("momentum.x".into(), Tensor::from(1.0)));
        let e = resumed.load_state(&flat, &bad).unwrap_err().to_string();
        assert!(e.contains("unexpected key(s) momentum.x"), "{e}");
        bad.pop();
        let e = resumed.load_state(&flat, &bad).unwrap_err().to_string();
        assert!(e.contains("missing key(s) m.l2.bias"), "{e}");
        assert_eq!(resumed.step_count(), 10, "unchanged by failed loads");
    }

    #[test]
    fn one_step_matches_the_formula() {
        // Step 1 from zero moments: m = (1-b1) g, v = (1-b2) g^2, so with the corrections
        // p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        let g = Tensor::from_slice(&[0.3f32, -0.01, 0.0]);
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(cfg, 3, Device::Cpu).unwrap();
        opt.step(&p, &g, 0.5).unwrap();
        let got = Vec::<f32>::try_from(&p).unwrap();
        let expected = [
            1.0 * 0.95 - 0.5 * 0.3 / (0.3 + 1e-8),
            -2.0 * 0.95 + 0.5 * 0.01 / (0.01 + 1e-8),
            0.5 * 0.95,
        ];
        for (a, b) in got.iter().zip(expected) {
            assert!((*a as f64 - b).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
        let e = opt
            .step(&p, &Tensor::zeros([4], (Kind::Float, Device::Cpu)), 0.1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("grad [3]") && e.contains("[4]"), "{e}");
        let e = opt
            .step(&p, &g.to_kind(Kind::BFloat16), 0.1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("grad is BFloat16"), "{e}");
        let e = AdamWConfig { beta2: 1.0, ..cfg }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("beta2 1"), "{e}");
    }

    #[test]
    fn clip_grad_norm_scales_to_the_limit() {
        let values = [3.0f32, -4.0, 12.0]; // norm 13
        let g = Tensor::from_slice(&values);
        let norm = clip_grad_norm(&g, 6.5).unwrap();
        assert_eq!(norm.dim(), 0);
        assert!((f64::try_from(&norm).unwrap() - 13.0).abs() < 1e-6);
        let coef = 6.5 / (13.0 + 1e-6);
        for (a, b) in Vec::<f32>::try_from(&g).unwrap().iter().zip(values) {
            assert!((*a as f64 - b as f64 * coef).abs() < 1e-6);
        }
        // Below the limit nothing changes.
        let g = Tensor::from_slice(&values);
        let norm = clip_grad_norm(&g, 100.0).unwrap();
        assert!((f64::try_from(&norm).unwrap() - 13.0).abs() < 1e-6);
        assert_eq!(Vec::<f32>::try_from(&g).unwrap(), values);
        assert!(clip_grad_norm(&g, 0.0).is_err());
    }
}
