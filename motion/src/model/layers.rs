//! Transformer blocks of the denoiser, post-norm as PyTorch's `nn.TransformerEncoderLayer` /
//! `nn.TransformerDecoderLayer` (what MDM uses), with attention through [`kernels::Attention`] so a
//! sparse backend replaces the dense one without touching this file.
//!
//! One deliberate difference: no dropout on the attention weights (the backends return outputs, not
//! weights); the residual, feed-forward and input dropouts are kept.

use kernels::{Attention, DenseAttention};
use tch::nn::{self, Module};
use tch::Tensor;

use crate::model::padding::{packed, unpacked, Packing};

/// `[B, N, H * Dh]` -> `[B, H, N, Dh]`.
fn split_heads(x: &Tensor, heads: i64) -> Tensor {
    let (b, n, d) = x.size3().expect("[B, N, d]");
    x.view([b, n, heads, d / heads]).transpose(1, 2)
}

/// `[B, H, N, Dh]` -> `[B, N, H * Dh]`.
fn merge_heads(x: &Tensor) -> Tensor {
    let (b, h, n, dh) = x.size4().expect("[B, H, N, Dh]");
    x.transpose(1, 2).reshape([b, n, h * dh])
}

/// Self-attention with one fused in-projection (`qkv` = PyTorch's `in_proj_weight`).
#[derive(Debug)]
pub struct SelfAttention {
    qkv: nn::Linear,
    out: nn::Linear,
    heads: i64,
}

impl SelfAttention {
    pub fn new(p: nn::Path, d: i64, heads: i64) -> Self {
        Self {
            qkv: nn::linear(&p / "qkv", d, 3 * d, Default::default()),
            out: nn::linear(&p / "out", d, d, Default::default()),
            heads,
        }
    }

    /// `x [B, N, d]` (or packed `[R, d]`), `pad [B, N]` (true = padded) -> like `x`.
    pub fn forward(
        &self,
        x: &Tensor,
        pad: Option<&Tensor>,
        attention: &dyn Attention,
        packing: Option<&Packing>,
    ) -> Tensor {
        let qkv = unpacked(packing, self.qkv.forward(x)).chunk(3, -1); // 3 x [B, N, d]
        let (q, k, v) = (
            split_heads(&qkv[0], self.heads),
            split_heads(&qkv[1], self.heads),
            split_heads(&qkv[2], self.heads),
        ); // [B, H, N, Dh]
        let o = merge_heads(&attention.attend(&q, &k, &v, pad)); // [B, N, d]
        self.out.forward(&packed(packing, o))
    }
}

/// Queries from the frames, keys and values from the condition memory.
#[derive(Debug)]
pub struct CrossAttention {
    q: nn::Linear,
    kv: nn::Linear,
    out: nn::Linear,
    heads: i64,
}

impl CrossAttention {
    pub fn new(p: nn::Path, d: i64, heads: i64) -> Self {
        Self {
            q: nn::linear(&p / "q", d, d, Default::default()),
            kv: nn::linear(&p / "kv", d, 2 * d, Default::default()),
            out: nn::linear(&p / "out", d, d, Default::default()),
            heads,
        }
    }

    /// `x [B, N, d]` (or packed `[R, d]`), `memory [B, M, d]`, `memory_pad [B, M]` -> like `x`.
    /// Always dense: the memory holds a handful of tokens, nothing a sparse pattern would save.
    pub fn forward(
        &self,
        x: &Tensor,
        memory: &Tensor,
        memory_pad: Option<&Tensor>,
        packing: Option<&Packing>,
    ) -> Tensor {
        let q = split_heads(&unpacked(packing, self.q.forward(x)), self.heads); // [B, H, N, Dh]
        let kv = self.kv.forward(memory).chunk(2, -1);
        let (k, v) = (
            split_heads(&kv[0], self.heads),
            split_heads(&kv[1], self.heads),
        ); // [B, H, M, Dh]
        let o = merge_heads(&DenseAttention.attend(&q, &k, &v, memory_pad)); // [B, N, d]
        self.out.forward(&packed(packing, o))
    }
}

/// Linear -> GELU -> dropout -> Linear.
#[derive(Debug)]
pub struct FeedForward {
    up: nn::Linear,
    down: nn::Linear,
}

impl FeedForward {
    pub fn new(p: nn::Path, d: i64, hidden: i64) -> Self {
        Self {
            up: nn::linear(&p / "up", d, hidden, Default::default()),
            down: nn::linear(&p / "down", hidden, d, Default::default()),
        }
    }

    /// `[B, N, d]` -> `[B, N, d]`.
    pub fn forward(&self, x: &Tensor, dropout: f64, train: bool) -> Tensor {
        let h = self.up.forward(x).gelu("none").dropout(dropout, train);
        self.down.forward(&h)
    }
}

fn layer_norm(p: nn::Path, d: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![d], Default::default())
}

/// Post-norm encoder block: x = LN(x + SA(x)); x = LN(x + FF(x)).
#[derive(Debug)]
pub struct EncoderLayer {
    attn: SelfAttention,
    norm1: nn::LayerNorm,
    ff: FeedForward,
    norm2: nn::LayerNorm,
}

impl EncoderLayer {
    pub fn new(p: nn::Path, d: i64, heads: i64, ffn: i64) -> Self {
        Self {
            attn: SelfAttention::new(&p / "attn", d, heads),
            norm1: layer_norm(&p / "norm1", d),
            ff: FeedForward::new(&p / "ff", d, ffn),
            norm2: layer_norm(&p / "norm2", d),
        }
    }

    /// `x [B, N, d]` (or packed `[R, d]`), `pad [B, N]` -> like `x`.
    pub fn forward(
        &self,
        x: &Tensor,
        pad: Option<&Tensor>,
        attention: &dyn Attention,
        packing: Option<&Packing>,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let a = self
            .attn
            .forward(x, pad, attention, packing)
            .dropout(dropout, train);
        let x = self.norm1.forward(&(x + a));
        let f = self.ff.forward(&x, dropout, train).dropout(dropout, train);
        self.norm2.forward(&(x + f))
    }
}

/// Post-norm decoder block: self-attention over frames, cross-attention to the memory, feed-forward.
#[derive(Debug)]
pub struct DecoderLayer {
    attn: SelfAttention,
    norm1: nn::LayerNorm,
    cross: CrossAttention,
    norm2: nn::LayerNorm,
    ff: FeedForward,
    norm3: nn::LayerNorm,
}

/// What the frames of a decoder layer attend to: `tokens [B, M, d]`, `pad [B, M]`.
pub struct Memory<'a> {
    pub tokens: &'a Tensor,
    pub pad: Option<&'a Tensor>,
}

impl DecoderLayer {
    pub fn new(p: nn::Path, d: i64, heads: i64, ffn: i64) -> Self {
        Self {
            attn: SelfAttention::new(&p / "attn", d, heads),
            norm1: layer_norm(&p / "norm1", d),
            cross: CrossAttention::new(&p / "cross", d, heads),
            norm2: layer_norm(&p / "norm2", d),
            ff: FeedForward::new(&p / "ff", d, ffn),
            norm3: layer_norm(&p / "norm3", d),
        }
    }

    /// `x [B, N, d]` (or packed `[R, d]`), `pad [B, N]`, memory `[B, M, d]` -> like `x`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &Tensor,
        pad: Option<&Tensor>,
        memory: &Memory,
        attention: &dyn Attention,
        packing: Option<&Packing>,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let a = self
            .attn
            .forward(x, pad, attention, packing)
            .dropout(dropout, train);
        let x = self.norm1.forward(&(x + a));
        let c = self
            .cross
            .forward(&x, memory.tokens, memory.pad, packing)
            .dropout(dropout, train);
        let x = self.norm2.forward(&(x + c));
        let f = self.ff.forward(&x, dropout, train).dropout(dropout, train);
        self.norm3.forward(&(x + f))
    }
}
