//! Text-conditioned sampling with a loaded [`MotionModel`]: noise -> respaced, guided walk ->
//! de-normalised feature rows. The caller owns text encoding and export.

use kernels::CudaGraph;
use tch::{Device, Kind, Tensor};

use crate::checkpoint::MotionModel;
use crate::diffusion::{walk, Guided, KeptStep, SamplerKind};
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
    /// On CUDA, record the guided denoiser call once as a CUDA graph and replay it every step
    /// (same numbers; one launch instead of ~150 per step).
    pub cuda_graph: bool,
}

/// Sampled motions and how they were made.
#[derive(Debug)]
pub struct Sampled {
    /// Raw feature rows `[N, rows, 263]` f32 on the model's device.
    pub features: Tensor,
    /// Whether the steps ran as CUDA-graph replays.
    pub cuda_graph: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            rows: 120,
            steps: 50,
            guidance: 2.5,
            sampler: SamplerKind::Ddpm,
            seed: 0,
            cuda_graph: true,
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
    ) -> Result<Sampled> {
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
            let mut progress = |k: usize| on_step(total - k, total);
            let graph = match device {
                Device::Cuda(index) if opts.cuda_graph => Some(record(&guided, &x, index)?),
                _ => None,
            };
            let used_graph = graph.is_some();
            let mut denoise = |x: &Tensor, step: &KeptStep, _k: usize| match &graph {
                Some(g) => g.x0(x, step.t),
                None => guided.x0(x, step.t, None),
            };
            let done = walk(
                &respaced,
                opts.sampler,
                x,
                total - 1,
                &mut denoise,
                &mut progress,
            )?;
            Ok(Sampled {
                features: self.denormalize(&done.x),
                cuda_graph: used_graph,
            })
        })
    }
}

/// The guided denoiser call recorded as a CUDA graph, with its input and output tensors.
struct Recorded {
    graph: CudaGraph,
    x_in: Tensor,
    steps_in: Tensor,
    out: Tensor,
}

impl Recorded {
    /// Copies the inputs in, replays, returns (a copy of) the guided x0_hat.
    fn x0(&self, x: &Tensor, t: i64) -> Result<Tensor> {
        self.x_in.shallow_clone().copy_(x);
        let _ = self.steps_in.shallow_clone().fill_(t);
        self.graph.replay().map_err(Error::Invalid)?;
        Ok(self.out.copy())
    }
}

/// Records `guided`'s call on inputs shaped like `x` (after one eager warm-up call, which
/// initialises cuBLAS and picks the attention kernels outside the capture).
fn record(guided: &Guided, x: &Tensor, device: usize) -> Result<Recorded> {
    let x_in = x.copy();
    let steps_in = Tensor::zeros([guided.forward_rows()], (Kind::Int64, x.device()));
    let _ = guided.x0_at(&x_in, &steps_in, None)?;
    let (graph, out) = CudaGraph::capture(device, || guided.x0_at(&x_in, &steps_in, None))
        .map_err(Error::Invalid)?;
    Ok(Recorded {
        graph,
        x_in,
        steps_in,
        out: out?,
    })
}
