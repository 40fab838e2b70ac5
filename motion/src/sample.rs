//! Text-conditioned sampling with a loaded [`MotionModel`]: noise -> respaced, guided walk ->
//! de-normalised feature rows. The caller owns text encoding and export.

use tch::{Kind, Tensor};

use crate::checkpoint::MotionModel;
use crate::diffusion::{walk, Guided, SamplerKind};
use crate::error::{Error, Result};
use crate::model::Condition;

/// How to sample; defaults are MDM's (50 steps, guidance 2.5, ancestral).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// Feature rows of each motion (20 per second).
    pub rows: i64,
    pub steps: usize,
    pub guidance: f64,
    pub sampler: SamplerKind,
    /// Seeds the initial noise and every ancestral step: the same seed repeats a run on one device.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            rows: 120,
            steps: 50,
            guidance: 2.5,
            sampler: SamplerKind::Ddpm,
            seed: 0,
        }
    }
}

impl MotionModel {
    /// `rows [.., 263]` normalised -> raw (x * Std + Mean), f32 on the rows' device.
    pub fn denormalize(&self, rows: &Tensor) -> Tensor {
        let device = rows.device();
        let mean = Tensor::from_slice(&self.normalization.mean).to_device(device);
        let std = Tensor::from_slice(&self.normalization.std).to_device(device);
        rows.to_kind(Kind::Float) * std + mean
    }

    /// One motion per row of `text [N, E]` (caption embeddings on the model's device) ->
    /// raw feature rows `[N, rows, 263]` f32. `on_step(done, total)` follows the walk.
    pub fn sample(
        &self,
        text: &Tensor,
        opts: &SampleOptions,
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<Tensor> {
        let spec = &self.card.motion;
        if opts.rows < 1 || opts.rows > self.card.model.max_frames {
            return Err(Error::Invalid(format!(
                "{} rows: this model takes 1 to {} (trained on {} to {})",
                opts.rows, self.card.model.max_frames, spec.min_rows, spec.max_rows
            )));
        }
        if !opts.guidance.is_finite() || opts.guidance < 0.0 {
            return Err(Error::Invalid(format!(
                "guidance {} must be a finite number >= 0",
                opts.guidance
            )));
        }
        let respaced = self.schedule.respace(opts.steps)?;
        let n = text.size()[0];
        let device = text.device();
        tch::no_grad(|| {
            tch::manual_seed(opts.seed as i64);
            let x = Tensor::randn(
                [n, opts.rows, self.card.model.feature_dim()],
                (Kind::Float, device),
            );
            let guided = Guided::new(&self.denoiser, &Condition::caption(text), opts.guidance);
            let total = respaced.len();
            let mut denoise = |x: &Tensor, step: &crate::diffusion::KeptStep, _k: usize| {
                guided.x0(x, step.t, None)
            };
            let mut progress = |k: usize| on_step(total - k, total);
            let done = walk(
                &respaced,
                opts.sampler,
                x,
                total - 1,
                &mut denoise,
                &mut progress,
            )?;
            Ok(self.denormalize(&done.x))
        })
    }
}
