//! The text-KP aligner of KETA (arXiv 2501.15058; method.md section 5): a text branch that maps each
//! sub-sentence to the 392-d kinematic-phrase signature it asks for (F_i), and a motion branch that
//! finds, inside the sub-sentence's temporal window, where the motion does it: a Gaussian over the
//! window's frames (one head module applied before and after a cross-attention layer), whose weights
//! average the window's KP into Omega_i. The alignment loss compares the two; F_i - Omega_i is the
//! guide vector of refinement.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Kinematic phrases per frame.
pub const KP_DIM: i64 = 392;

/// Sizes of the aligner; `reference()` is KETA's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlignerConfig {
    /// Sentence-embedding width (MiniLM: 384).
    pub text_dim: i64,
    /// Hidden widths of the text MLP (GELU between layers), ending in 392.
    pub text_hidden: Vec<i64>,
    /// Width of the motion branch.
    pub d_model: i64,
    pub heads: i64,
    pub ffn: i64,
    /// Hidden width of the Gaussian head.
    pub head_hidden: i64,
}

impl Default for AlignerConfig {
    fn default() -> Self {
        Self::reference()
    }
}

impl AlignerConfig {
    /// KETA's sizes: text MLP 4096-2048-1024-512-392, motion branch 512 with 8 heads, FFN 1024.
    pub fn reference() -> Self {
        Self {
            text_dim: 384,
            text_hidden: vec![4096, 2048, 1024, 512],
            d_model: 512,
            heads: 8,
            ffn: 1024,
            head_hidden: 256,
        }
    }

    /// Tests: trains in milliseconds.
    pub fn tiny() -> Self {
        Self {
            text_dim: 384,
            text_hidden: vec![64],
            d_model: 32,
            heads: 2,
            ffn: 64,
            head_hidden: 16,
        }
    }
}

/// One batch of sub-sentences and their windows.
#[derive(Debug)]
pub struct AlignerInput<'a> {
    /// Sub-sentence embeddings `[B, S, E]`.
    pub sentences: &'a Tensor,
    /// `[B, S]`, true on absent slots (fewer sub-sentences than S).
    pub slot_pad: &'a Tensor,
    /// KP of each sub-sentence's window `[B, S, L, 392]` (soft KP, padded to the longest window).
    pub window_kp: &'a Tensor,
    /// `[B, S, L]`, true on padded frames of a window.
    pub frame_pad: &'a Tensor,
}

/// What the aligner says about a batch.
#[derive(Debug)]
pub struct Alignment {
    /// F_i, the KP signature each sub-sentence asks for `[B, S, 392]`.
    pub signature: Tensor,
    /// Omega_i, the Gaussian-weighted KP of each window `[B, S, 392]`.
    pub weighted: Tensor,
    /// The Gaussian weights over each window's frames `[B, S, L]` (zero on padded frames).
    pub weights: Tensor,
    /// Centre and width of each Gaussian, in frames from the window's start `[B, S]`.
    pub mu: Tensor,
    pub sigma: Tensor,
}

impl Alignment {
    /// The text-KP distance of each slot: mean over the 392 dims of (Omega_i - F_i)^2 `[B, S]`.
    pub fn slot_distances(&self) -> Tensor {
        (&self.weighted - &self.signature)
            .square()
            .mean_dim(-1, false, Kind::Float)
    }

    /// L_align: mean of [`Self::slot_distances`] over real sub-sentence slots (padded slots do not
    /// dilute it). `slot_pad [B, S]` -> scalar.
    pub fn loss(&self, slot_pad: &Tensor) -> Tensor {
        let real = slot_pad.logical_not().to_kind(Kind::Float);
        (self.slot_distances() * &real).sum(Kind::Float) / real.sum(Kind::Float).clamp_min(1.0)
    }

    /// The distance of each motion: mean of its real slots' distances `[B]`.
    pub fn motion_distances(&self, slot_pad: &Tensor) -> Tensor {
        let real = slot_pad.logical_not().to_kind(Kind::Float);
        (self.slot_distances() * &real).sum_dim_intlist(-1, false, Kind::Float)
            / real.sum_dim_intlist(-1, false, Kind::Float).clamp_min(1.0)
    }

    /// Guide vectors d_i = F_i - Omega_i `[B, S, 392]`.
    pub fn guide(&self) -> Tensor {
        &self.signature - &self.weighted
    }
}

/// LayerNorm -> Linear -> ReLU -> Linear(2): the (a, b) of a Gaussian over a window.
#[derive(Debug)]
struct GaussianHead {
    norm: nn::LayerNorm,
    hidden: nn::Linear,
    out: nn::Linear,
}

impl GaussianHead {
    fn new(p: nn::Path, d: i64, hidden: i64) -> Self {
        Self {
            norm: nn::layer_norm(&p / "norm", vec![d], Default::default()),
            hidden: nn::linear(&p / "hidden", d, hidden, Default::default()),
            out: nn::linear(&p / "out", hidden, 2, Default::default()),
        }
    }

    /// `q [B, S, d]`, real frames per window `len [B, S]` (float) -> (mu, sigma), each `[B, S]`:
    /// mu = sigmoid(a) len, sigma = max(sigmoid(b) len / 6, 0.5).
    fn forward(&self, q: &Tensor, len: &Tensor) -> (Tensor, Tensor) {
        let ab = self
            .out
            .forward(&self.hidden.forward(&self.norm.forward(q)).relu());
        let (a, b) = (ab.select(-1, 0), ab.select(-1, 1));
        let mu = a.sigmoid() * len;
        let sigma = (b.sigmoid() * len / 6.0).clamp_min(0.5);
        (mu, sigma)
    }
}

/// Softmax over each window's real frames of -0.5 ((j + 0.5 - mu) / sigma)^2.
/// `mu`, `sigma [B, S]`, `frame_pad [B, S, L]` -> `[B, S, L]`, zero on padded frames.
pub fn gaussian_weights(mu: &Tensor, sigma: &Tensor, frame_pad: &Tensor) -> Tensor {
    let l = frame_pad.size()[2];
    let j = Tensor::arange(l, (Kind::Float, mu.device())) + 0.5; // [L]
    let z = (j.view([1, 1, l]) - mu.unsqueeze(-1)) / sigma.unsqueeze(-1);
    let logits = (z.square() * -0.5).masked_fill(frame_pad, f64::NEG_INFINITY);
    logits.softmax(-1, Kind::Float)
}

/// Sinusoidal embedding of frame indices 0..l `[l, d]`: channel 2k sin(j w_k), 2k+1 cos(j w_k),
/// w_k = 10000^(-2k/d) (as the denoiser's positions).
fn frame_positions(l: i64, d: i64, device: tch::Device) -> Tensor {
    let j = Tensor::arange(l, (Kind::Float, device)).unsqueeze(1);
    let k = Tensor::arange_start_step(0, d, 2, (Kind::Float, device));
    let angle = j * (k * (-(10000f64.ln()) / d as f64)).exp().unsqueeze(0); // [l, d/2]
    Tensor::stack(&[angle.sin(), angle.cos()], -1).flatten(1, 2)
}

/// The aligner. Checkpoint keys: `text.<i>.*`, `kp.*`, `kp_norm.*`, `query.{0,1}.*`, `attn.*`,
/// `attn_norm.*`, `ff.{up,down}.*`, `ff_norm.*`, `head.*`.
#[derive(Debug)]
pub struct Aligner {
    cfg: AlignerConfig,
    text: Vec<nn::Linear>,
    kp: nn::Linear,
    kp_norm: nn::LayerNorm,
    query1: nn::Linear,
    query2: nn::Linear,
    attn_q: nn::Linear,
    attn_kv: nn::Linear,
    attn_out: nn::Linear,
    attn_norm: nn::LayerNorm,
    ff_up: nn::Linear,
    ff_down: nn::Linear,
    ff_norm: nn::LayerNorm,
    head: GaussianHead,
}

impl Aligner {
    pub fn new(p: nn::Path, cfg: &AlignerConfig) -> Self {
        let lin = |path: nn::Path, i: i64, o: i64| nn::linear(path, i, o, Default::default());
        let d = cfg.d_model;
        let widths: Vec<i64> = std::iter::once(cfg.text_dim)
            .chain(cfg.text_hidden.iter().copied())
            .chain(std::iter::once(KP_DIM))
            .collect();
        let text_path = &p / "text";
        let text = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| lin(&text_path / i, w[0], w[1]))
            .collect();
        let ln = |path: nn::Path| nn::layer_norm(path, vec![d], Default::default());
        let (query, attn, ff) = (&p / "query", &p / "attn", &p / "ff");
        Self {
            text,
            kp: lin(&p / "kp", KP_DIM, d),
            kp_norm: ln(&p / "kp_norm"),
            query1: lin(&query / 0, cfg.text_dim, d),
            query2: lin(&query / 1, d, d),
            attn_q: lin(&attn / "q", d, d),
            attn_kv: lin(&attn / "kv", d, 2 * d),
            attn_out: lin(&attn / "out", d, d),
            attn_norm: ln(&p / "attn_norm"),
            ff_up: lin(&ff / "up", d, cfg.ffn),
            ff_down: lin(&ff / "down", cfg.ffn, d),
            ff_norm: ln(&p / "ff_norm"),
            head: GaussianHead::new(&p / "head", d, cfg.head_hidden),
            cfg: cfg.clone(),
        }
    }

    pub fn config(&self) -> &AlignerConfig {
        &self.cfg
    }

    /// F_i from sub-sentence embeddings `[.., E]` -> `[.., 392]`.
    pub fn signature(&self, sentences: &Tensor) -> Tensor {
        let last = self.text.len() - 1;
        self.text
            .iter()
            .enumerate()
            .fold(sentences.shallow_clone(), |h, (i, layer)| {
                let h = layer.forward(&h);
                if i < last {
                    h.gelu("none")
                } else {
                    h
                }
            })
    }

    /// Aligns each sub-sentence with its window (shapes in [`AlignerInput`]).
    pub fn forward(&self, input: &AlignerInput) -> Alignment {
        let (b, s, l, _) = input.window_kp.size4().expect("window_kp [B, S, L, 392]");
        let (d, h) = (self.cfg.d_model, self.cfg.heads);
        // 1. Text: signature F [B, S, 392] and the motion branch's query [B, S, d].
        let signature = self.signature(input.sentences);
        let query = self
            .query2
            .forward(&self.query1.forward(input.sentences).relu());
        // A window with no real frame (an absent slot) would make softmaxes of nothing, whose NaN
        // leaks into gradients even when masked afterwards: such windows count every frame as real,
        // and the slot mask zeroes their results.
        let empty = input.frame_pad.all_dim(-1, true);
        let frame_pad = &input.frame_pad.logical_and(&empty.logical_not());
        // 2. Window frames -> keys/values [B, S, L, d]; real frames per window [B, S].
        // Positions inside the window (a sinusoid of the frame index, our addition): without them
        // the attended summary carries no "where", and the head could not place its Gaussian on
        // the frames that match (tested below).
        let frames = self
            .kp_norm
            .forward(&self.kp.forward(input.window_kp))
            .relu()
            + frame_positions(l, d, input.window_kp.device());
        let len = frame_pad
            .logical_not()
            .sum_dim_intlist(-1, false, Kind::Float);
        // 3. The head on the query gives a first Gaussian; frames it weighs below e^-2 of its peak
        //    are masked in the attention (detached; the peak frame always stays).
        let (mu0, sigma0) = self.head.forward(&query, &len);
        let w0 = gaussian_weights(&mu0, &sigma0, frame_pad).detach();
        let peak = w0.amax(-1, true);
        let masked = w0.lt_tensor(&(peak * (-2f64).exp())).logical_or(frame_pad); // [B, S, L]
                                                                                  // 4. One cross-attention layer (query length 1) + FFN, residuals and LayerNorms.
        let split = |t: &Tensor, n: i64| t.reshape([b * s, n, h, d / h]).transpose(1, 2);
        let q = split(&self.attn_q.forward(&query), 1); // [BS, H, 1, Dh]
        let kv = self.attn_kv.forward(&frames).chunk(2, -1);
        let (k, v) = (split(&kv[0], l), split(&kv[1], l)); // [BS, H, L, Dh]
        let allowed = masked.logical_not().reshape([b * s, 1, 1, l]);
        let o = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(&allowed),
            0.0,
            false,
            None,
            false,
        )
        .transpose(1, 2)
        .reshape([b, s, d]);
        let x = self
            .attn_norm
            .forward(&(&query + self.attn_out.forward(&o)));
        let x = self
            .ff_norm
            .forward(&(&x + self.ff_down.forward(&self.ff_up.forward(&x).relu())));
        // 5. The same head on the attended query: the Gaussian whose weights average the window.
        let (mu, sigma) = self.head.forward(&x, &len);
        let weights = gaussian_weights(&mu, &sigma, frame_pad); // [B, S, L]
        let weighted =
            (weights.unsqueeze(-1) * input.window_kp).sum_dim_intlist(2, false, Kind::Float); // [B, S, 392]
        let absent = input.slot_pad.unsqueeze(-1);
        Alignment {
            signature,
            weighted: weighted.masked_fill(&absent, 0.0),
            weights: weights.masked_fill(&absent, 0.0),
            mu,
            sigma,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global_rng;
    use tch::Device;

    fn batch(b: i64, s: i64, l: i64) -> (Tensor, Tensor, Tensor, Tensor) {
        let sentences = Tensor::randn([b, s, 384], (Kind::Float, Device::Cpu));
        let slot_pad = Tensor::zeros([b, s], (Kind::Bool, Device::Cpu));
        let kp = Tensor::randn([b, s, l, KP_DIM], (Kind::Float, Device::Cpu)).tanh();
        let frame_pad = Tensor::zeros([b, s, l], (Kind::Bool, Device::Cpu));
        (sentences, slot_pad, kp, frame_pad)
    }

    #[test]
    fn gaussian_weights_follow_the_formula_and_skip_padding() {
        let mu = Tensor::from_slice(&[2.0f32]).view([1, 1]);
        let sigma = Tensor::from_slice(&[1.0f32]).view([1, 1]);
        let pad = Tensor::from_slice(&[false, false, false, false, true]).view([1, 1, 5]);
        let w = Vec::<f64>::try_from(
            gaussian_weights(&mu, &sigma, &pad)
                .flatten(0, -1)
                .to_kind(Kind::Double),
        )
        .unwrap();
        let raw: Vec<f64> = (0..4)
            .map(|j| (-0.5 * (j as f64 + 0.5 - 2.0).powi(2)).exp())
            .collect();
        let z: f64 = raw.iter().sum();
        for j in 0..4 {
            assert!((w[j] - raw[j] / z).abs() < 1e-6);
        }
        assert_eq!(w[4], 0.0);
    }

    #[test]
    fn shapes_loss_and_guide_ignore_absent_slots_and_padded_frames() {
        let _rng = global_rng();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let aligner = Aligner::new(vs.root(), &AlignerConfig::tiny());
        let (sentences, _, kp, frame_pad) = batch(2, 3, 6);
        // Sample 1 has only two sub-sentences; the last window of sample 0 has 4 real frames.
        let slot_pad = Tensor::from_slice(&[false, false, false, false, false, true]).view([2, 3]);
        let frame_pad = frame_pad.copy();
        let _ = frame_pad.get(0).get(2).narrow(0, 4, 2).fill_(1.0);
        let _ = frame_pad.get(1).get(2).fill_(1.0);
        let input = AlignerInput {
            sentences: &sentences,
            slot_pad: &slot_pad,
            window_kp: &kp,
            frame_pad: &frame_pad,
        };
        let a = aligner.forward(&input);
        assert_eq!(a.signature.size(), [2, 3, KP_DIM]);
        assert_eq!(a.weights.size(), [2, 3, 6]);
        let sums = a.weights.sum_dim_intlist(-1, false, Kind::Float);
        let sums = Vec::<f32>::try_from(sums.flatten(0, -1)).unwrap();
        for (i, v) in sums.iter().enumerate() {
            let want = if i == 5 { 0.0 } else { 1.0 };
            assert!((v - want).abs() < 1e-5, "slot {i}: weights sum to {v}");
        }
        assert_eq!(
            a.weights
                .get(0)
                .get(2)
                .narrow(0, 4, 2)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
        // Omega is the weighted average of the window's KP.
        let want = (a.weights.get(0).get(1).unsqueeze(-1) * kp.get(0).get(1)).sum_dim_intlist(
            0,
            false,
            Kind::Float,
        );
        assert!(
            (a.weighted.get(0).get(1) - want)
                .abs()
                .max()
                .double_value(&[])
                < 1e-5
        );
        // The loss averages real slots only: garbage in the absent slot changes nothing.
        let loss = a.loss(&slot_pad);
        let kp2 = kp.copy();
        let _ = kp2.get(1).get(2).fill_(5.0);
        let s2 = sentences.copy();
        let _ = s2.get(1).get(2).fill_(5.0);
        let b = aligner.forward(&AlignerInput {
            sentences: &s2,
            window_kp: &kp2,
            ..input
        });
        assert!((b.loss(&slot_pad) - &loss).abs().double_value(&[]) < 1e-6);
        // By hand: mean over 5 real slots of the mean squared difference.
        let per = (&a.weighted - &a.signature)
            .square()
            .mean_dim(-1, false, Kind::Float);
        // Per motion: sample 0 averages 3 slots, sample 1 its 2 real ones.
        let by_motion = Vec::<f32>::try_from(a.motion_distances(&slot_pad)).unwrap();
        let m1 = (per.get(1).get(0) + per.get(1).get(1)).double_value(&[]) / 2.0;
        assert!((by_motion[1] as f64 - m1).abs() < 1e-6);
        let by_hand = (per.sum(Kind::Float) - per.get(1).get(2)) / 5.0;
        assert!((loss - by_hand).abs().double_value(&[]) < 1e-6);
        assert_eq!(a.guide().size(), [2, 3, KP_DIM]);
        // No NaN anywhere, gradients included, despite a window with no real frame.
        let vars = vs.trainable_variables();
        let grads = Tensor::run_backward(&[a.loss(&slot_pad)], &vars, false, false);
        for g in grads.iter().filter(|g| g.defined()) {
            assert!(bool::try_from(g.isfinite().all()).unwrap());
        }
    }

    #[test]
    fn gradients_reach_the_window_kp_and_every_module() {
        let _rng = global_rng();
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let aligner = Aligner::new(vs.root(), &AlignerConfig::tiny());
        let (sentences, slot_pad, kp, frame_pad) = batch(2, 2, 5);
        let kp = kp.set_requires_grad(true);
        let a = aligner.forward(&AlignerInput {
            sentences: &sentences,
            slot_pad: &slot_pad,
            window_kp: &kp,
            frame_pad: &frame_pad,
        });
        let loss = a.loss(&slot_pad);
        let mut inputs = vec![kp.shallow_clone()];
        let names: Vec<String> = vs.variables().into_keys().collect();
        inputs.extend(names.iter().map(|n| vs.variables()[n].shallow_clone()));
        let grads = Tensor::run_backward(&[loss], &inputs, false, false);
        assert!(
            grads[0].abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "no gradient to the KP"
        );
        for (name, g) in names.iter().zip(&grads[1..]) {
            assert!(g.defined(), "{name} is not in the graph");
        }
    }

    /// The aligner learns: sentences of class c ask for KP pattern v_c, and each window holds v_c in
    /// three of its twelve frames (noise elsewhere). After 600 Adam steps the alignment loss is 5x
    /// lower and the Gaussian's centre falls on the pattern in half the windows; without the frame
    /// positions the same run stays at chance (0.28, three or four frames of twelve).
    #[test]
    fn it_learns_to_find_the_asked_pattern() {
        use tch::nn::OptimizerConfig;
        let _rng = global_rng();
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let aligner = Aligner::new(vs.root(), &AlignerConfig::tiny());
        let mut opt = nn::Adam::default().build(&vs, 3e-3).unwrap();
        let classes = Tensor::randn([4, 384], (Kind::Float, Device::Cpu));
        let patterns = Tensor::randn([4, KP_DIM], (Kind::Float, Device::Cpu)).tanh();
        let (b, s, l) = (16i64, 2i64, 12i64);
        let make = || {
            let cls = Tensor::randint(4, [b, s], (Kind::Int64, Device::Cpu));
            let sentences = classes
                .index_select(0, &cls.flatten(0, 1))
                .view([b, s, 384]);
            let kp = Tensor::randn([b, s, l, KP_DIM], (Kind::Float, Device::Cpu)) * 0.3;
            let at = Tensor::randint(l - 3, [b, s], (Kind::Int64, Device::Cpu));
            let want = patterns
                .index_select(0, &cls.flatten(0, 1))
                .view([b, s, KP_DIM]);
            for i in 0..b {
                for k in 0..s {
                    let a = at.int64_value(&[i, k]);
                    kp.get(i)
                        .get(k)
                        .narrow(0, a, 3)
                        .copy_(&want.get(i).get(k).unsqueeze(0).expand([3, KP_DIM], false));
                }
            }
            (sentences, kp, at)
        };
        let slot_pad = Tensor::zeros([b, s], (Kind::Bool, Device::Cpu));
        let frame_pad = Tensor::zeros([b, s, l], (Kind::Bool, Device::Cpu));
        let mut first = None;
        let mut last = 0.0;
        let mut hit = 0.0;
        for step in 0..600 {
            let (sentences, kp, at) = make();
            let a = aligner.forward(&AlignerInput {
                sentences: &sentences,
                slot_pad: &slot_pad,
                window_kp: &kp,
                frame_pad: &frame_pad,
            });
            let loss = a.loss(&slot_pad);
            last = loss.double_value(&[]);
            first.get_or_insert(last);
            opt.backward_step(&loss);
            if step == 599 {
                // The centre falls on the three pattern frames [at, at + 3).
                let mu = &a.mu - 0.5;
                let inside = mu
                    .ge_tensor(&(at.to_kind(Kind::Float) - 0.5))
                    .logical_and(&mu.lt_tensor(&(at.to_kind(Kind::Float) + 3.5)));
                hit = inside
                    .to_kind(Kind::Float)
                    .mean(Kind::Float)
                    .double_value(&[]);
            }
        }
        let first = first.unwrap();
        assert!(last < first / 5.0, "alignment loss {first} -> {last}");
        assert!(
            hit > 0.4,
            "Gaussian centres on the pattern in {hit} of windows"
        );
    }
}
