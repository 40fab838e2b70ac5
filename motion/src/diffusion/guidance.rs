//! Classifier-free guidance (Ho & Salimans 2022; MDM's `ClassifierFreeSampleModel`):
//! x0 = x0_uncond + s (x0_cond - x0_uncond), with both branches in one batched forward pass.

use tch::{Kind, Tensor};

use crate::diffusion::schedule::step_tensor;
use crate::error::Result;
use crate::model::{Condition, Denoiser, Padding};

/// A denoiser bound to a condition and a guidance scale.
pub struct Guided<'a> {
    model: &'a Denoiser,
    /// `[2N, ..]` (conditional rows, then unconditional) when guiding, else `[N, ..]`.
    cond: Condition,
    /// Guide tokens `[N, S, 392]`, doubled for the two branches inside each call (so that a CUDA
    /// graph that recorded the call sees new values copied into this tensor).
    guide: Option<Tensor>,
    scale: f64,
    n: i64,
}

impl<'a> Guided<'a> {
    /// `cond` holds N rows. Scale 1 runs the conditional branch alone (no guidance).
    pub fn new(model: &'a Denoiser, cond: &Condition, scale: f64) -> Self {
        let n = cond.text.size()[0];
        let cond = if scale == 1.0 {
            cond.shallow_clone()
        } else {
            cond.with_unconditional()
        };
        Self {
            model,
            guide: cond.guide.as_ref().map(Tensor::shallow_clone),
            cond,
            scale,
            n,
        }
    }

    /// Uses `guide [N, S, 392]` (the tensor itself, not a copy: later in-place writes to it reach
    /// every following call); both branches get the same guide tokens.
    pub fn set_guide(&mut self, guide: &Tensor) {
        self.guide = Some(guide.shallow_clone());
    }

    fn guided(&self) -> bool {
        self.scale != 1.0
    }

    /// `x_t [N, T, 263]` at model step `t`, padded frames `pad` -> guided x0_hat `[N, T, 263]` f32.
    pub fn x0(&self, x_t: &Tensor, t: i64, pad: Option<&Padding>) -> Result<Tensor> {
        let steps = step_tensor(t, self.forward_rows(), x_t.device());
        self.x0_at(x_t, &steps, pad)
    }

    /// Rows of one forward pass: 2N when guiding, else N.
    pub fn forward_rows(&self) -> i64 {
        if self.guided() {
            2 * self.n
        } else {
            self.n
        }
    }

    /// Like [`Self::x0`] with the model steps given as a tensor `[forward_rows]` (int64), so that a
    /// CUDA graph can record the call once and replay it for every step.
    pub fn x0_at(&self, x_t: &Tensor, steps: &Tensor, pad: Option<&Padding>) -> Result<Tensor> {
        let mut cond = self.cond.shallow_clone();
        if !self.guided() {
            cond.guide = self.guide.as_ref().map(Tensor::shallow_clone);
            let out = self.model.forward(x_t, steps, &cond, pad, false)?;
            return Ok(out.to_kind(Kind::Float));
        }
        cond.guide = self.guide.as_ref().map(|g| Tensor::cat(&[g, g], 0)); // [2N, S, 392]
        let x2 = Tensor::cat(&[x_t, x_t], 0); // [2N, T, 263]

        // Doubled once per padding (a walk passes the same one at every step), with its packing.
        let pad2 = pad.map(Padding::doubled);
        let out = self
            .model
            .forward(&x2, steps, &cond, pad2, false)?
            .to_kind(Kind::Float);
        let (cond, uncond) = (out.narrow(0, 0, self.n), out.narrow(0, self.n, self.n));
        Ok(&uncond + (cond - &uncond) * self.scale)
    }
}
