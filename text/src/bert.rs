//! BERT encoder (Devlin et al. 2019) as used by all-MiniLM-L6-v2: post-LayerNorm transformer with
//! erf-GELU, absolute positions, token types. Ported from the layer structure of Hugging Face's
//! `modeling_bert.py` (and candle's `bert.rs`); sub-path names equal the checkpoint's keys
//! (`encoder.layer.0.attention.self.query.weight`, ...). Inference only: no dropout layers.

use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The fields of a Hugging Face `config.json` that the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

impl BertConfig {
    /// all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, FFN 1536 (assets.md).
    pub fn minilm_l6() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        }
    }
}

fn layer_norm(p: nn::Path, cfg: &BertConfig) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![cfg.hidden_size],
        nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        },
    )
}

/// Word + position + token-type embeddings, then LayerNorm.
struct Embeddings {
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    norm: nn::LayerNorm,
}

impl Embeddings {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let e = Default::default();
        Self {
            word: nn::embedding(&p / "word_embeddings", cfg.vocab_size, cfg.hidden_size, e),
            position: nn::embedding(
                &p / "position_embeddings",
                cfg.max_position_embeddings,
                cfg.hidden_size,
                e,
            ),
            token_type: nn::embedding(
                &p / "token_type_embeddings",
                cfg.type_vocab_size,
                cfg.hidden_size,
                e,
            ),
            norm: layer_norm(&p / "LayerNorm", cfg),
        }
    }

    /// `ids [B, L]` -> `[B, L, H]`.
    fn forward(&self, ids: &Tensor) -> Tensor {
        let positions = Tensor::arange(ids.size()[1], (Kind::Int64, ids.device())).unsqueeze(0); // [1, L]
        let types = ids.zeros_like(); // single-segment input
        let x = self.word.forward(ids)
            + self.position.forward(&positions)
            + self.token_type.forward(&types);
        self.norm.forward(&x)
    }
}

/// Self-attention with its output projection and residual LayerNorm.
struct Attention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    output: nn::Linear,
    norm: nn::LayerNorm,
    heads: i64,
}

impl Attention {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let (h, s) = (cfg.hidden_size, &p / "self");
        let lin = |q: nn::Path| nn::linear(q, h, h, Default::default());
        Self {
            query: lin(&s / "query"),
            key: lin(&s / "key"),
            value: lin(&s / "value"),
            output: lin(&p / "output" / "dense"),
            norm: layer_norm(&p / "output" / "LayerNorm", cfg),
            heads: cfg.num_attention_heads,
        }
    }

    /// `x [B, L, H]`, `bias [B, 1, 1, L]` (0 for real tokens, -inf-like for padding) -> `[B, L, H]`.
    fn forward(&self, x: &Tensor, bias: &Tensor) -> Tensor {
        let (b, l, h) = x.size3().expect("[B, L, H]");
        let split = |t: Tensor| t.view([b, l, self.heads, h / self.heads]).transpose(1, 2); // [B, nh, L, dh]
        let (q, k, v) = (
            split(self.query.forward(x)),
            split(self.key.forward(x)),
            split(self.value.forward(x)),
        );
        let scores = q.matmul(&k.transpose(-1, -2)) / ((h / self.heads) as f64).sqrt() + bias; // [B, nh, L, L]
        let context = scores.softmax(-1, scores.kind()).matmul(&v); // [B, nh, L, dh]
        let context = context.transpose(1, 2).contiguous().view([b, l, h]);
        self.norm.forward(&(self.output.forward(&context) + x))
    }
}

/// One encoder layer: attention, then the feed-forward block with its residual LayerNorm.
struct Layer {
    attention: Attention,
    intermediate: nn::Linear,
    output: nn::Linear,
    norm: nn::LayerNorm,
}

impl Layer {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        Self {
            attention: Attention::new(&p / "attention", cfg),
            intermediate: nn::linear(
                &p / "intermediate" / "dense",
                cfg.hidden_size,
                cfg.intermediate_size,
                Default::default(),
            ),
            output: nn::linear(
                &p / "output" / "dense",
                cfg.intermediate_size,
                cfg.hidden_size,
                Default::default(),
            ),
            norm: layer_norm(&p / "output" / "LayerNorm", cfg),
        }
    }

    fn forward(&self, x: &Tensor, bias: &Tensor) -> Tensor {
        let x = self.attention.forward(x, bias);
        let hidden = self.intermediate.forward(&x).gelu("none"); // erf GELU, as BERT's "gelu"
        self.norm.forward(&(self.output.forward(&hidden) + x))
    }
}

/// The encoder stack; `forward` gives the last hidden state.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl BertModel {
    pub fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(&p / "encoder" / "layer" / i, cfg))
            .collect();
        Self {
            embeddings: Embeddings::new(&p / "embeddings", cfg),
            layers,
        }
    }

    /// `ids [B, L]` (int64), `mask [B, L]` (1 real, 0 padding) -> last hidden state `[B, L, H]`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let x = self.embeddings.forward(ids);
        // Additive mask: the dtype's lowest value, not -inf, so an all-padding row stays finite.
        let padding = mask.to_kind(x.kind()).neg() + 1.0; // [B, L]: 1 at padding
        let bias = padding.view([mask.size()[0], 1, 1, -1]) * f64::from(f32::MIN);
        self.layers
            .iter()
            .fold(x, |x, layer| layer.forward(&x, &bias))
    }
}
