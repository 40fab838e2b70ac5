//! The denoiser's configuration and its named presets.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::FEATURE_DIM;

/// How the condition reaches the frames (method.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// MDM's `trans_enc`: one condition token (time + caption) prepended to the frames.
    #[default]
    Encoder,
    /// KETA's decoder: frames cross-attend to a memory of condition tokens
    /// [time, caption, one per sub-sentence, one guide token per sub-sentence].
    Decoder,
}

/// Sizes and switches of a [`crate::model::Denoiser`]. Stored in every checkpoint's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenoiserConfig {
    /// Encoder or decoder variant.
    pub variant: Variant,
    /// Width of every token.
    pub d_model: i64,
    /// Transformer layers.
    pub layers: i64,
    /// Attention heads; `d_model / heads` should be 64 or 128 for the fused radial kernel.
    pub heads: i64,
    /// Hidden width of each feed-forward block.
    pub ffn: i64,
    /// Dropout after positions, attention and feed-forward blocks (training only).
    pub dropout: f64,
    /// Size of the sentence embeddings the model is conditioned on (MiniLM-L6: 384).
    pub text_dim: i64,
    /// Longest motion, in feature rows, the positions are defined for.
    pub max_frames: i64,
    /// Decoder: sub-sentence slots in the memory.
    pub max_sentences: i64,
    /// Decoder: add one guide token (a 392-d text-KP distance) per sub-sentence.
    pub guide_tokens: bool,
}

impl Default for DenoiserConfig {
    fn default() -> Self {
        Self::mdm()
    }
}

impl DenoiserConfig {
    /// The reference size (MDM, Tevet et al. 2023: d 512, 8 layers, 4 heads, FFN 1024, dropout 0.1),
    /// conditioned on MiniLM's 384-d embeddings instead of CLIP's 512.
    pub fn mdm() -> Self {
        Self {
            variant: Variant::Encoder,
            d_model: 512,
            layers: 8,
            heads: 4,
            ffn: 1024,
            dropout: 0.1,
            text_dim: 384,
            max_frames: 196,
            max_sentences: 8,
            guide_tokens: false,
        }
    }

    /// The shipped default model's size: small enough to sample a 6 s motion in about a second on a
    /// 2-core CPU (d 256 x 4 heads keeps head dim 64).
    pub fn small() -> Self {
        Self {
            d_model: 256,
            layers: 6,
            heads: 4,
            ffn: 1024,
            ..Self::mdm()
        }
    }

    /// Tests and CPU demos: trains in seconds.
    pub fn tiny() -> Self {
        Self {
            d_model: 64,
            layers: 2,
            heads: 2,
            ffn: 128,
            max_frames: 64,
            ..Self::mdm()
        }
    }

    /// Refuses sizes the model cannot be built with, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(format!("model config: {msg}")));
        for (name, v) in [
            ("d_model", self.d_model),
            ("layers", self.layers),
            ("heads", self.heads),
            ("ffn", self.ffn),
            ("text_dim", self.text_dim),
            ("max_frames", self.max_frames),
            ("max_sentences", self.max_sentences),
        ] {
            if v < 1 {
                return bad(format!("{name} must be >= 1, got {v}"));
            }
        }
        if self.d_model % self.heads != 0 {
            return bad(format!(
                "d_model {} is not a multiple of heads {}",
                self.d_model, self.heads
            ));
        }
        if self.d_model % 2 != 0 {
            return bad(format!(
                "d_model {} must be even (sinusoidal positions)",
                self.d_model
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }

    /// Feature rows per frame in and out (the 263-d HumanML3D row).
    pub fn feature_dim(&self) -> i64 {
        FEATURE_DIM as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip_through_json() {
        for cfg in [
            DenoiserConfig::mdm(),
            DenoiserConfig::small(),
            DenoiserConfig::tiny(),
        ] {
            cfg.validate().unwrap();
            let json = serde_json::to_string(&cfg).unwrap();
            assert_eq!(serde_json::from_str::<DenoiserConfig>(&json).unwrap(), cfg);
        }
        let partial: DenoiserConfig =
            serde_json::from_str(r#"{"d_model": 128, "variant": "decoder"}"#).unwrap();
        assert_eq!(
            (partial.d_model, partial.layers, partial.variant),
            (128, 8, Variant::Decoder)
        );
        assert!(serde_json::from_str::<DenoiserConfig>(r#"{"d_modle": 1}"#).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let e = DenoiserConfig {
            heads: 3,
            ..DenoiserConfig::tiny()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("heads 3"), "{e}");
        let e = DenoiserConfig {
            layers: 0,
            ..DenoiserConfig::tiny()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("layers must be >= 1"), "{e}");
    }
}
