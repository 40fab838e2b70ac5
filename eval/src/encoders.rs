//! The evaluator's three networks, ported from HumanML3D's `networks/modules.py` (Guo et al.,
//! "Generating Diverse and Natural 3D Human Motions from Text", CVPR 2022; text-to-motion repo):
//! `MovementConvEncoder`, `MotionEncoderBiGRUCo` and `TextEncoderBiGRUCo`. Sub-path names are
//! the PyTorch state-dict keys (`main.0.weight`, `output_net.3.bias`, `hidden`, ...).
//! Initialisation is the reference's `init_weight`: Xavier-normal weights, zero biases for the
//! linear and convolution layers; the learned initial GRU state `hidden [2, 1, H]` is N(0, 1).

use tch::{nn, nn::Module, Tensor};

use crate::gru::BiGru;

/// LeakyReLU with the reference's slope 0.2 (tch's `leaky_relu` fixes 0.01).
fn leaky(x: &Tensor) -> Tensor {
    x.maximum(&(x * 0.2))
}

fn xavier(fan_in: i64, fan_out: i64) -> nn::Init {
    nn::Init::Randn {
        mean: 0.0,
        stdev: (2.0 / (fan_in + fan_out) as f64).sqrt(),
    }
}

fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: xavier(i, o),
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, i, o, cfg)
}

/// Conv1d(kernel 4, stride 2, padding 1): halves the length.
fn conv(p: nn::Path, i: i64, o: i64) -> nn::Conv1D {
    let cfg = nn::ConvConfig {
        stride: 2,
        padding: 1,
        ws_init: xavier(i * 4, o * 4),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::conv1d(p, i, o, 4, cfg)
}

/// `MovementConvEncoder`: two strided convolutions (length / 4) and a linear layer.
#[derive(Debug)]
pub struct MovementEncoder {
    conv1: nn::Conv1D,
    conv2: nn::Conv1D,
    out_net: nn::Linear,
}

impl MovementEncoder {
    pub fn new(p: &nn::Path, input: i64, hidden: i64, latent: i64) -> Self {
        MovementEncoder {
            conv1: conv(p / "main" / "0", input, hidden),
            conv2: conv(p / "main" / "3", hidden, latent),
            out_net: linear(p / "out_net", latent, latent),
        }
    }

    /// Movement latents `[B, T / 4, latent]` of normalised features without foot contacts `[B, T, F - 4]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.permute([0, 2, 1]); // [B, F-4, T]
        let h = leaky(&self.conv1.forward(&h).dropout(0.2, train)); // [B, hidden, T/2]
        let h = leaky(&self.conv2.forward(&h).dropout(0.2, train)); // [B, latent, T/4]
        self.out_net.forward(&h.permute([0, 2, 1])) // [B, T/4, latent]
    }
}

/// The co-embedding head of both encoders: Linear(2H, H) + LayerNorm + LeakyReLU + Linear(H, E),
/// at `output_net.{0,1,3}`.
#[derive(Debug)]
struct OutputNet {
    l0: nn::Linear,
    norm: nn::LayerNorm,
    l3: nn::Linear,
}

impl OutputNet {
    fn new(p: nn::Path, hidden: i64, out: i64) -> Self {
        OutputNet {
            l0: linear(&p / "0", 2 * hidden, hidden),
            norm: nn::layer_norm(&p / "1", vec![hidden], Default::default()),
            l3: linear(&p / "3", hidden, out),
        }
    }

    /// `[B, 2H]` -> `[B, E]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.l3
            .forward(&leaky(&self.norm.forward(&self.l0.forward(x))))
    }
}

/// `MotionEncoderBiGRUCo`: movement latents -> BiGRU -> co-embedding.
#[derive(Debug)]
pub struct MotionEncoder {
    input_emb: nn::Linear,
    gru: BiGru,
    output_net: OutputNet,
    /// Learned initial state `[2, 1, H]`.
    hidden: Tensor,
}

impl MotionEncoder {
    pub fn new(p: &nn::Path, latent: i64, hidden: i64, out: i64) -> Self {
        MotionEncoder {
            input_emb: linear(p / "input_emb", latent, hidden),
            gru: BiGru::new(&(p / "gru"), hidden, hidden),
            output_net: OutputNet::new(p / "output_net", hidden, out),
            hidden: p.var(
                "hidden",
                &[2, 1, hidden],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            ),
        }
    }

    /// Embeddings `[B, E]` of movement latents `[B, T', latent]` with `lengths [B]` (int64, in
    /// latent steps: frames / 4).
    pub fn forward(&self, movements: &Tensor, lengths: &Tensor, train: bool) -> Tensor {
        let b = movements.size()[0];
        let x = self.input_emb.forward(movements); // [B, T', H]
        let h0 = self.hidden.repeat([1, b, 1]); // [2, B, H]
        self.output_net
            .forward(&self.gru.final_states(&x, lengths, &h0, train)) // [B, 2H] -> [B, E]
    }
}

/// `TextEncoderBiGRUCo`: word vector + projected POS one-hot -> BiGRU -> co-embedding.
#[derive(Debug)]
pub struct TextEncoder {
    pos_emb: nn::Linear,
    input_emb: nn::Linear,
    gru: BiGru,
    output_net: OutputNet,
    /// Learned initial state `[2, 1, H]`.
    hidden: Tensor,
}

impl TextEncoder {
    pub fn new(p: &nn::Path, word: i64, pos: i64, hidden: i64, out: i64) -> Self {
        TextEncoder {
            pos_emb: linear(p / "pos_emb", pos, word),
            input_emb: linear(p / "input_emb", word, hidden),
            gru: BiGru::new(&(p / "gru"), hidden, hidden),
            output_net: OutputNet::new(p / "output_net", hidden, out),
            hidden: p.var(
                "hidden",
                &[2, 1, hidden],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            ),
        }
    }

    /// Embeddings `[B, E]` of word vectors `[B, L, D]` and POS one-hots `[B, L, 15]` with
    /// `lengths [B]` (int64, counting sos and eos).
    pub fn forward(&self, words: &Tensor, pos: &Tensor, lengths: &Tensor, train: bool) -> Tensor {
        let b = words.size()[0];
        let x = self.input_emb.forward(&(words + self.pos_emb.forward(pos))); // [B, L, H]
        let h0 = self.hidden.repeat([1, b, 1]); // [2, B, H]
        self.output_net
            .forward(&self.gru.final_states(&x, lengths, &h0, train)) // [B, 2H] -> [B, E]
    }
}
