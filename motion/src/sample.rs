//! Text-conditioned sampling with a loaded [`MotionModel`]: noise -> respaced, guided walk ->
//! de-normalised feature rows, with KETA's refinement (method.md section 7) for decoder models:
//! guide tokens read from the current motion at every step, and extra re-noise/denoise rounds.
//! The caller owns text encoding, decomposition and export.

use std::cell::Cell;

use aligner::WindowLayout;
use kernels::CudaGraph;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::MotionModel;
use crate::diffusion::{renoise, walk, Guided, KeptStep, SamplerKind};
use crate::error::{Error, Result};
use crate::guide::KpGuide;
use crate::model::{Condition, Padding, Variant, GUIDE_DIM};

/// What the guide tokens are read from at each sampling step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RefineFrom {
    /// The noisy sample x_t the step starts from (as in training).
    #[default]
    Xt,
    /// The previous step's clean estimate x0_hat (x_t at the first step of a walk).
    X0,
}

/// How to sample; defaults are MDM's (50 steps, guidance 2.5, ancestral).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// Feature rows of each motion (20 per second).
    pub rows: i64,
    /// Real rows of each motion when they differ (each 1..=`rows`; the rest is padding, masked in
    /// attention and meaningless in the output). None: every motion has `rows`.
    pub lengths: Option<Vec<i64>>,
    pub steps: usize,
    pub guidance: f64,
    pub sampler: SamplerKind,
    /// Seeds the initial noise and every ancestral step: the same seed repeats a run on one device.
    pub seed: u64,
    /// On CUDA, record the guided denoiser call once as a CUDA graph and replay it every step
    /// (same numbers; one launch instead of ~150 per step). Motions of one length only: with
    /// `lengths` the walk runs eager.
    pub cuda_graph: bool,
    /// Extra rounds: re-noise the finished motion to the kept step nearest `refine_t` of the
    /// schedule and denoise again (with fresh guide tokens when the model has them).
    pub refine_rounds: usize,
    /// Where the rounds re-enter, as a fraction of the schedule (0..1).
    pub refine_t: f64,
    pub refine_from: RefineFrom,
}

/// Sampled motions and how they were made.
#[derive(Debug)]
pub struct Sampled {
    /// Raw feature rows `[N, rows, 263]` f32 on the model's device.
    pub features: Tensor,
    /// Whether the steps ran as CUDA-graph replays.
    pub cuda_graph: bool,
    /// The text-KP distance of each motion after the first walk and after every refinement round,
    /// `[1 + refine_rounds][N]`; empty when the model has no aligner or no sub-sentences were given.
    pub text_kp_distance: Vec<Vec<f64>>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            rows: 120,
            lengths: None,
            steps: 50,
            guidance: 2.5,
            sampler: SamplerKind::Ddpm,
            seed: 0,
            cuda_graph: true,
            refine_rounds: 0,
            refine_t: 0.5,
            refine_from: RefineFrom::Xt,
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
    /// raw feature rows `[N, rows, 263]` f32. `sentences[i]` holds motion i's sub-sentence embeddings
    /// `[n_i, E]`: required by decoder models, and used by any model with an aligner to report the
    /// text-KP distance. `on_step(done, total)` follows the walk and its refinement rounds.
    pub fn sample(
        &self,
        text: &Tensor,
        sentences: Option<&[Tensor]>,
        opts: &SampleOptions,
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<Sampled> {
        self.check_options(opts)?;
        let respaced = self.schedule.respace(opts.steps)?;
        let n = text.size()[0];
        let device = text.device();
        let model = &self.card.model;
        let lengths = match &opts.lengths {
            Some(l) => l.clone(),
            None => vec![opts.rows; n as usize],
        };
        if lengths.len() as i64 != n || lengths.iter().any(|&l| l < 1 || l > opts.rows) {
            return Err(Error::Invalid(format!(
                "lengths {lengths:?}: need {n} values in 1..={}",
                opts.rows
            )));
        }
        let padding = opts
            .lengths
            .as_ref()
            .map(|l| Padding::from_lengths(l, opts.rows, device));
        let keta = self.keta_inputs(sentences, &lengths, opts.rows, device)?;
        let mut cond = Condition::caption(text);
        if model.variant == Variant::Decoder {
            let (layout, padded) = keta.as_ref().ok_or_else(|| {
                Error::Invalid("a decoder model needs the prompts' sub-sentences".into())
            })?;
            cond.sentences = Some((padded.shallow_clone(), layout.slot_pad.shallow_clone()));
        }
        // Guide tokens live in one tensor: each step writes the new reading into it, which the
        // eager call and a recorded CUDA graph both read.
        let guide_in = match (&keta, model.guide_tokens) {
            (Some((layout, _)), true) => Some(Tensor::zeros(
                [n, layout.slot_pad.size()[1], GUIDE_DIM],
                (Kind::Float, device),
            )),
            _ => None,
        };
        let reader = match (&self.guide, &keta) {
            (Some(g), Some((layout, padded))) => Some(Reader {
                guide: g,
                layout,
                sentences: padded,
                lengths: &lengths,
            }),
            _ => None,
        };
        if guide_in.is_some() && reader.is_none() {
            return Err(Error::Invalid(
                "this model has guide tokens but no aligner was loaded".into(),
            ));
        }
        tch::no_grad(|| {
            tch::manual_seed(opts.seed as i64);
            let x = Tensor::randn([n, opts.rows, model.feature_dim()], (Kind::Float, device));
            let mut guided = Guided::new(&self.denoiser, &cond, opts.guidance);
            if let Some(g) = &guide_in {
                guided.set_guide(g);
            }
            let total = respaced.len();
            let re_entry = respaced.nearest(opts.refine_t);
            let all_steps = total + opts.refine_rounds * (re_entry + 1);
            let mut done_steps = 0;
            let mut progress = |_k: usize| {
                done_steps += 1;
                on_step(done_steps, all_steps);
            };
            // A schedule that switches attention between steps cannot replay one recorded
            // graph. Nor do motions of several lengths get one: a graph cannot hold packing's
            // host-built index, and with padding masked instead, a KETA decoder's walk through a
            // graph ended 1.5 away from the eager walk on an H100 although one packed and one
            // masked call agree bitwise (tests/gpu.rs); until that is understood, padded batches
            // (evaluation's, which runs eager anyway) sample eagerly.
            let graph = match device {
                Device::Cuda(index)
                    if opts.cuda_graph
                        && padding.is_none()
                        && !self.denoiser.schedule_varies(opts.rows as usize, total) =>
                {
                    Some(record(&guided, &x, index)?)
                }
                _ => None,
            };
            let used_graph = graph.is_some();
            // A walk's first step (the first walk's, or a round's re-entry) has no estimate of
            // its own yet: it reads the guide from x_t whatever `refine_from` says.
            let new_walk = Cell::new(true);
            let mut previous_x0: Option<Tensor> = None;
            let mut denoise = |x: &Tensor, step: &KeptStep, k: usize| -> Result<Tensor> {
                let fresh = new_walk.replace(false);
                self.denoiser.set_sampling_step(total - 1 - k, total);
                if let (Some(g), Some(r)) = (&guide_in, &reader) {
                    let source = match (opts.refine_from, &previous_x0) {
                        (RefineFrom::X0, Some(x0)) if !fresh => x0,
                        _ => x,
                    };
                    let reading = r.read(source)?;
                    g.shallow_clone().copy_(&reading.guide);
                }
                let x0 = match &graph {
                    Some(rec) => rec.x0(x, step.t)?,
                    None => guided.x0(x, step.t, padding.as_ref())?,
                };
                previous_x0 = Some(x0.shallow_clone());
                Ok(x0)
            };
            let mut distances = Vec::new();
            let mut x = walk(
                &respaced,
                opts.sampler,
                x,
                total - 1,
                &mut denoise,
                &mut progress,
            )?
            .x0;
            if let Some(r) = &reader {
                distances.push(r.distances(&x)?);
            }
            for _ in 0..opts.refine_rounds {
                let start = renoise(&x, &respaced.steps[re_entry]);
                new_walk.set(true);
                x = walk(
                    &respaced,
                    opts.sampler,
                    start,
                    re_entry,
                    &mut denoise,
                    &mut progress,
                )?
                .x0;
                if let Some(r) = &reader {
                    distances.push(r.distances(&x)?);
                }
            }
            self.denoiser.set_sampling_step(0, 0);
            Ok(Sampled {
                features: self.denormalize(&x),
                cuda_graph: used_graph,
                text_kp_distance: distances,
            })
        })
    }

    fn check_options(&self, opts: &SampleOptions) -> Result<()> {
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
        if !(0.0..=1.0).contains(&opts.refine_t) {
            return Err(Error::Invalid(format!(
                "refine_t {} must lie in 0..1 (a fraction of the schedule)",
                opts.refine_t
            )));
        }
        Ok(())
    }

    /// The windows of motions of `lengths` real rows (of `rows`) and their padded sub-sentences
    /// `[N, S, E]`, when sub-sentences are given (None otherwise).
    fn keta_inputs(
        &self,
        sentences: Option<&[Tensor]>,
        lengths: &[i64],
        rows: i64,
        device: Device,
    ) -> Result<Option<(WindowLayout, Tensor)>> {
        let Some(sentences) = sentences else {
            return Ok(None);
        };
        let n = lengths.len();
        if sentences.len() != n {
            return Err(Error::Invalid(format!(
                "{} sub-sentence lists for {n} motions",
                sentences.len()
            )));
        }
        let counts: Vec<usize> = sentences.iter().map(|s| s.size()[0] as usize).collect();
        let max = self.card.model.max_sentences as usize;
        let lengths: Vec<usize> = lengths.iter().map(|&l| l as usize).collect();
        let layout = WindowLayout::new(&lengths, &counts, rows as usize, max, device)
            .map_err(|e| Error::Invalid(format!("{e} (this model's limit: merge the tail)")))?;
        let padded = layout.pad_sentences(sentences);
        Ok(Some((layout, padded)))
    }
}

/// Reads the guide of motions that share one window layout.
struct Reader<'a> {
    guide: &'a KpGuide,
    layout: &'a WindowLayout,
    /// `[N, S, E]`.
    sentences: &'a Tensor,
    lengths: &'a [i64],
}

impl Reader<'_> {
    fn read(&self, x: &Tensor) -> Result<crate::guide::GuideReading> {
        self.guide
            .read(x, self.lengths, self.layout, self.sentences)
    }

    /// The text-KP distance of each motion of `x [N, rows, 263]` (normalised).
    fn distances(&self, x: &Tensor) -> Result<Vec<f64>> {
        let d = self.read(x)?.distance.to_kind(Kind::Double);
        Ok(Vec::<f64>::try_from(d)?)
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

/// Records `guided`'s call on unpadded inputs shaped like `x` (after one eager warm-up call, which
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
