//! The MDM-style denoiser (Tevet et al., ICLR 2023, `model/mdm.py` "trans_enc") and KETA's decoder
//! variant (arXiv 2501.15058): noisy normalised feature rows, a diffusion step and a text condition in,
//! the predicted clean rows (x0) out. Weights are ours (trained by `keta train mdm`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kernels::{Attention, DenseAttention};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::model::config::{DenoiserConfig, Variant};
use crate::model::layers::{DecoderLayer, EncoderLayer, Memory};
use crate::model::padding::{packed, unpacked, Padding};

/// Width of a guide token's input: one text-KP distance per kinematic phrase.
pub const GUIDE_DIM: i64 = 392;

/// Sinusoidal embedding of (possibly fractional) positions, as MDM and the peer benchmark:
/// channel 2k holds sin(p w_k), channel 2k+1 cos(p w_k), w_k = 10000^(-2k/d).
/// `positions [N]` -> `[N, d]` f32.
pub fn sinusoid(positions: &Tensor, d: i64) -> Tensor {
    let device = positions.device();
    let k = Tensor::arange_start_step(0, d, 2, (Kind::Float, device)); // [d/2]
    let w = (k * (-(10000f64.ln()) / d as f64)).exp();
    let angle = positions.to_kind(Kind::Float).unsqueeze(1) * w.unsqueeze(0); // [N, d/2]
    Tensor::stack(&[angle.sin(), angle.cos()], -1).flatten(1, 2)
}

/// What the denoiser is conditioned on. Rows that drop the text (classifier-free guidance) have
/// `keep` 0: their caption and sub-sentence embeddings are zeroed before the projection.
#[derive(Debug)]
pub struct Condition {
    /// Caption embeddings `[B, E]`.
    pub text: Tensor,
    /// 1 keeps the text, 0 drops it `[B]` (float).
    pub keep: Tensor,
    /// Decoder: sub-sentence embeddings `[B, S, E]` with `sentence_pad [B, S]` (true = absent slot).
    pub sentences: Option<(Tensor, Tensor)>,
    /// Decoder with guide tokens: text-KP distances `[B, S, 392]` (never dropped).
    pub guide: Option<Tensor>,
}

impl Condition {
    /// The caption alone, kept.
    pub fn caption(text: &Tensor) -> Self {
        let b = text.size()[0];
        Self {
            text: text.shallow_clone(),
            keep: Tensor::ones([b], (Kind::Float, text.device())),
            sentences: None,
            guide: None,
        }
    }

    /// The same tensors (no copy).
    pub fn shallow_clone(&self) -> Self {
        Self {
            text: self.text.shallow_clone(),
            keep: self.keep.shallow_clone(),
            sentences: self
                .sentences
                .as_ref()
                .map(|(s, p)| (s.shallow_clone(), p.shallow_clone())),
            guide: self.guide.as_ref().map(Tensor::shallow_clone),
        }
    }

    /// Rows of `self` followed by the same rows with the text dropped: the batch that evaluates both
    /// classifier-free-guidance branches in one forward pass. `[B, ..]` -> `[2B, ..]`.
    pub fn with_unconditional(&self) -> Self {
        let twice = |t: &Tensor| Tensor::cat(&[t, t], 0);
        Self {
            text: twice(&self.text),
            keep: Tensor::cat(&[&self.keep, &self.keep.zeros_like()], 0),
            sentences: self
                .sentences
                .as_ref()
                .map(|(s, pad)| (twice(s), twice(pad))),
            guide: self.guide.as_ref().map(twice),
        }
    }

    fn batch(&self) -> i64 {
        self.text.size()[0]
    }
}

/// Decoder-only parts.
#[derive(Debug)]
struct DecoderParts {
    layers: Vec<DecoderLayer>,
    sentence_proj: nn::Linear,
    guide_proj: Option<nn::Linear>,
}

#[derive(Debug)]
enum Body {
    Encoder(Vec<EncoderLayer>),
    Decoder(DecoderParts),
}

/// The denoiser. Checkpoint keys: `input.*`, `time.{0,1}.*`, `text.*`, `layers.<i>.*`,
/// `sentences.*` / `guide.*` (decoder), `output.*`.
pub struct Denoiser {
    cfg: DenoiserConfig,
    input: nn::Linear,
    time1: nn::Linear,
    time2: nn::Linear,
    text_proj: nn::Linear,
    body: Body,
    output: nn::Linear,
    attention: Arc<dyn Attention>,
    /// The sampling step `(step, steps)` the next calls belong to (`(0, 0)` outside sampling):
    /// radial attention's schedule runs the noisiest steps densely.
    step: (AtomicUsize, AtomicUsize),
}

impl std::fmt::Debug for Denoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoiser")
            .field("cfg", &self.cfg)
            .field("attention", &self.attention.name())
            .finish()
    }
}

impl Denoiser {
    /// Builds the model under `p` (its dtype and device) with dense attention.
    pub fn new(p: nn::Path, cfg: &DenoiserConfig) -> Result<Self> {
        Self::with_attention(p, cfg, Arc::new(DenseAttention))
    }

    /// Builds the model with the given self-attention backend.
    pub fn with_attention(
        p: nn::Path,
        cfg: &DenoiserConfig,
        attention: Arc<dyn Attention>,
    ) -> Result<Self> {
        cfg.validate()?;
        let (d, f) = (cfg.d_model, cfg.feature_dim());
        let lin = |name: &str, i: i64, o: i64| nn::linear(&p / name, i, o, Default::default());
        let layers = &p / "layers";
        let body = match cfg.variant {
            Variant::Encoder => Body::Encoder(
                (0..cfg.layers)
                    .map(|i| EncoderLayer::new(&layers / i, d, cfg.heads, cfg.ffn))
                    .collect(),
            ),
            Variant::Decoder => Body::Decoder(DecoderParts {
                layers: (0..cfg.layers)
                    .map(|i| DecoderLayer::new(&layers / i, d, cfg.heads, cfg.ffn))
                    .collect(),
                sentence_proj: lin("sentences", cfg.text_dim, d),
                guide_proj: cfg.guide_tokens.then(|| lin("guide", GUIDE_DIM, d)),
            }),
        };
        let time = &p / "time";
        Ok(Self {
            input: lin("input", f, d),
            time1: nn::linear(&time / 0, d, d, Default::default()),
            time2: nn::linear(&time / 1, d, d, Default::default()),
            text_proj: lin("text", cfg.text_dim, d),
            body,
            output: lin("output", d, f),
            attention,
            step: (AtomicUsize::new(0), AtomicUsize::new(0)),
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &DenoiserConfig {
        &self.cfg
    }

    /// Accepts sequences up to `frames` rows (extrapolation beyond the trained length: the
    /// positions are sinusoids, defined at any length; quality is not guaranteed).
    pub fn extend_frames(&mut self, frames: i64) {
        self.cfg.max_frames = self.cfg.max_frames.max(frames);
    }

    /// Name of the self-attention backend.
    pub fn attention_name(&self) -> &'static str {
        self.attention.name()
    }

    /// Marks the following calls as sampling step `step` (0 = the noisiest) of `steps`, for the
    /// attention backend's dense schedule; `(0, 0)` (the default) means training.
    pub fn set_sampling_step(&self, step: usize, steps: usize) {
        self.step.0.store(step, Ordering::Relaxed);
        self.step.1.store(steps, Ordering::Relaxed);
    }

    /// Whether the attention schedule changes between steps of a `steps`-step walk over `frames`
    /// frames (a CUDA graph recorded at one step would then replay the wrong attention at others).
    pub fn schedule_varies(&self, frames: usize, steps: usize) -> bool {
        let tokens = self.tokens(frames);
        (0..self.cfg.layers as usize).any(|l| {
            self.attention.dense_at(l, tokens, 0, steps)
                != self
                    .attention
                    .dense_at(l, tokens, steps.saturating_sub(1), steps)
        })
    }

    /// Self-attention tokens for `frames` frames: the encoder prepends its condition token.
    fn tokens(&self, frames: usize) -> usize {
        match self.body {
            Body::Encoder(_) => frames + 1,
            Body::Decoder(_) => frames,
        }
    }

    /// The attention of layer `layer` over `frames` frames at the current step: dense where the
    /// schedule says so.
    fn attention_of(&self, layer: usize, frames: usize) -> &dyn Attention {
        let (step, steps) = (
            self.step.0.load(Ordering::Relaxed),
            self.step.1.load(Ordering::Relaxed),
        );
        if self
            .attention
            .dense_at(layer, self.tokens(frames), step, steps)
        {
            &DenseAttention
        } else {
            self.attention.as_ref()
        }
    }

    /// Predicts clean rows. `x_t [B, N, 263]` (normalised, any float dtype), `t [B]` int64 diffusion
    /// steps, `pad` the padded frames -> x0 `[B, N, 263]` in the model's dtype (values at padded
    /// frames are meaningless). `train` enables dropout.
    pub fn forward(
        &self,
        x_t: &Tensor,
        t: &Tensor,
        cond: &Condition,
        padding: Option<&Padding>,
        train: bool,
    ) -> Result<Tensor> {
        let pad = padding.map(|p| &p.mask);
        let (b, n) = self.check_inputs(x_t, t, cond, pad)?;
        let kind = self.input.ws.kind();
        let device = x_t.device();
        let p = self.cfg.dropout;
        // 1. Condition tokens: time [B, d]; caption [B, d] (zeroed text for dropped rows).
        let time = self.time_token(t, kind);
        let keep = cond.keep.to_kind(kind).unsqueeze(1); // [B, 1]
        let caption = self.text_proj.forward(&(cond.text.to_kind(kind) * &keep));
        let frames = self.input.forward(&x_t.to_kind(kind)); // [B, N, d]
        let h = match &self.body {
            Body::Encoder(layers) => {
                // 2. [cond | frames] + positions; the condition token is never padded.
                let h = Tensor::cat(&[(time + caption).unsqueeze(1), frames], 1); // [B, N+1, d]
                let h = (h + self.positions(n + 1, kind, device)).dropout(p, train);
                let pad = pad
                    .map(|m| Tensor::cat(&[m.zeros_like().narrow(1, 0, 1), m.shallow_clone()], 1));
                // 3. Encoder layers, on the real tokens only when the padding packs ([R, d]).
                let packing = padding.and_then(|p| p.packing(1));
                let mut h = packed(packing.as_ref(), h);
                for (i, layer) in layers.iter().enumerate() {
                    let attention = self.attention_of(i, n as usize);
                    h = layer.forward(&h, pad.as_ref(), attention, packing.as_ref(), p, train);
                }
                unpacked(packing.as_ref(), h).narrow(1, 1, n) // [B, N, d]
            }
            Body::Decoder(parts) => {
                // 2. Memory [time, caption, sentences.., guides..] and its padding mask.
                let (memory, memory_pad) = self.memory(parts, time, caption, cond, b, kind)?;
                let memory = Memory {
                    tokens: &memory,
                    pad: Some(&memory_pad),
                };
                // 3. Frames + positions through decoder layers (packed when the padding packs).
                let h = (frames + self.positions(n, kind, device)).dropout(p, train);
                let packing = padding.and_then(|p| p.packing(0));
                let mut h = packed(packing.as_ref(), h);
                for (i, layer) in parts.layers.iter().enumerate() {
                    let attention = self.attention_of(i, n as usize);
                    h = layer.forward(&h, pad, &memory, attention, packing.as_ref(), p, train);
                }
                unpacked(packing.as_ref(), h)
            }
        };
        // 4. Back to feature rows.
        Ok(self.output.forward(&h))
    }

    /// `[1, n, d]` positions 0..n in `kind`.
    fn positions(&self, n: i64, kind: Kind, device: tch::Device) -> Tensor {
        let pos = Tensor::arange(n, (Kind::Float, device));
        sinusoid(&pos, self.cfg.d_model).to_kind(kind).unsqueeze(0)
    }

    /// `t [B]` -> `[B, d]`: sinusoid -> Linear -> SiLU -> Linear.
    fn time_token(&self, t: &Tensor, kind: Kind) -> Tensor {
        let e = sinusoid(t, self.cfg.d_model).to_kind(kind);
        self.time2.forward(&self.time1.forward(&e).silu())
    }

    /// Decoder memory `[B, M, d]` and its padding `[B, M]` (true = absent).
    fn memory(
        &self,
        parts: &DecoderParts,
        time: Tensor,
        caption: Tensor,
        cond: &Condition,
        b: i64,
        kind: Kind,
    ) -> Result<(Tensor, Tensor)> {
        let device = caption.device();
        let mut tokens = vec![time.unsqueeze(1), caption.unsqueeze(1)];
        let mut pads = vec![Tensor::zeros([b, 2], (Kind::Bool, device))];
        match (&cond.sentences, &parts.guide_proj, &cond.guide) {
            (None, None, None) => {}
            (Some((sent, sent_pad)), guide_proj, guide) => {
                let s = sent.size()[1];
                let slots = self.positions(s, kind, device); // [1, S, d]
                let keep = cond.keep.to_kind(kind).view([b, 1, 1]);
                tokens.push(parts.sentence_proj.forward(&(sent.to_kind(kind) * keep)) + &slots);
                pads.push(sent_pad.shallow_clone());
                match (guide_proj, guide) {
                    (Some(proj), Some(g)) => {
                        check_shape(g, &[b, s, GUIDE_DIM], "guide [B, S, 392]")?;
                        tokens.push(proj.forward(&g.to_kind(kind)) + &slots);
                        pads.push(sent_pad.shallow_clone());
                    }
                    (None, None) => {}
                    (Some(_), None) => {
                        return Err(Error::Invalid(
                            "this decoder was built with guide tokens: pass a guide".into(),
                        ))
                    }
                    (None, Some(_)) => {
                        return Err(Error::Invalid(
                            "this decoder has no guide tokens, but a guide was passed".into(),
                        ))
                    }
                }
            }
            (None, _, _) if parts.guide_proj.is_some() || cond.guide.is_some() => {
                return Err(Error::Invalid(
                    "guide tokens need sub-sentences (Condition::sentences)".into(),
                ))
            }
            (None, _, _) => {}
        }
        Ok((Tensor::cat(&tokens, 1), Tensor::cat(&pads, 1)))
    }

    /// Shapes of one call; returns (B, N).
    fn check_inputs(
        &self,
        x_t: &Tensor,
        t: &Tensor,
        cond: &Condition,
        pad: Option<&Tensor>,
    ) -> Result<(i64, i64)> {
        let size = x_t.size();
        if size.len() != 3 || size[2] != self.cfg.feature_dim() || size[1] < 1 {
            return Err(Error::Shape {
                expected: "x_t [B, N, 263]".into(),
                got: size,
            });
        }
        let (b, n) = (size[0], size[1]);
        if n > self.cfg.max_frames {
            return Err(Error::Invalid(format!(
                "{n} rows is more than this model's max_frames {}",
                self.cfg.max_frames
            )));
        }
        check_shape(t, &[b], "t [B]")?;
        check_shape(&cond.text, &[b, self.cfg.text_dim], "text [B, E]")?;
        check_shape(&cond.keep, &[b], "keep [B]")?;
        if cond.batch() != b {
            return Err(Error::Invalid(format!(
                "condition batch {} != {b}",
                cond.batch()
            )));
        }
        if let Some(m) = pad {
            check_shape(m, &[b, n], "pad [B, N]")?;
        }
        if let Some((s, sp)) = &cond.sentences {
            let slots = s.size().get(1).copied().unwrap_or(0);
            if slots > self.cfg.max_sentences {
                return Err(Error::Invalid(format!(
                    "{slots} sub-sentences; this model takes at most {}",
                    self.cfg.max_sentences
                )));
            }
            check_shape(s, &[b, slots, self.cfg.text_dim], "sentences [B, S, E]")?;
            check_shape(sp, &[b, slots], "sentence_pad [B, S]")?;
            if self.cfg.variant == Variant::Encoder {
                return Err(Error::Invalid(
                    "the encoder variant takes no sub-sentences".into(),
                ));
            }
        }
        Ok((b, n))
    }
}

fn check_shape(t: &Tensor, want: &[i64], expected: &str) -> Result<()> {
    if t.size() != want {
        return Err(Error::Shape {
            expected: format!("{expected} = {want:?}"),
            got: t.size(),
        });
    }
    Ok(())
}
