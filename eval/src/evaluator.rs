//! The text-motion evaluator (method.md section 8): the reference's movement, motion and text
//! encoders in one `VarStore` under `movement_encoder.`, `motion_encoder.` and `text_encoder.`
//! (the keys of the official `finest.tar`), with the evaluator's own feature Mean/Std and its
//! word vectors. Inference entry points check shapes and run without gradients; the trainer
//! uses the `*_forward` methods.

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::encoders::{MotionEncoder, MovementEncoder, TextEncoder};
use crate::error::{Error, Result};
use crate::folder::{FeatureStats, VocabSource};
use crate::glove::WordVectors;
use crate::pos::{evaluator_tokens, humanml3d_tokens, TokenSequence, POS_CLASSES};

/// Frames per movement latent: the two stride-2 convolutions (the reference's `unit_length`).
pub const UNIT_LENGTH: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluatorConfig {
    /// Features per motion frame (HumanML3D: 263).
    pub feature_dim: usize,
    /// Trailing features the movement encoder drops (HumanML3D's 4 foot contacts).
    pub contact_dims: usize,
    /// Word vector size (50 for our GloVe 6B, 300 for the official evaluator).
    pub word_dim: usize,
    /// Channels of the movement encoder's first convolution.
    pub movement_hidden: usize,
    /// Size of a movement latent.
    pub movement_latent: usize,
    /// Hidden size of the motion BiGRU.
    pub motion_hidden: usize,
    /// Hidden size of the text BiGRU.
    pub text_hidden: usize,
    /// Size of the shared text-motion embedding.
    pub embedding_dim: usize,
    /// Frames every motion is zero-padded to before the convolutions, as the reference's data
    /// loader pads (196): a motion's last movement units read this padding, so embeddings depend
    /// on it, and one fixed length makes them independent of the batch.
    pub max_motion_length: usize,
}

impl Default for EvaluatorConfig {
    /// The reference sizes with our 50-d word vectors.
    fn default() -> Self {
        EvaluatorConfig {
            word_dim: 50,
            ..Self::humanml3d()
        }
    }
}

impl EvaluatorConfig {
    /// The official HumanML3D evaluator (`networks/evaluator_wrapper.py`: 300-d GloVe, motion
    /// hidden 1024, text hidden 512, movement 512, co-embedding 512).
    pub fn humanml3d() -> Self {
        EvaluatorConfig {
            feature_dim: 263,
            contact_dims: 4,
            word_dim: 300,
            movement_hidden: 512,
            movement_latent: 512,
            motion_hidden: 1024,
            text_hidden: 512,
            embedding_dim: 512,
            max_motion_length: 196,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.contact_dims >= self.feature_dim {
            return Err(Error::Invalid(format!(
                "contact_dims {} must be smaller than feature_dim {}",
                self.contact_dims, self.feature_dim
            )));
        }
        if self.max_motion_length < UNIT_LENGTH {
            return Err(Error::Invalid(format!(
                "max_motion_length {} must be at least {UNIT_LENGTH}",
                self.max_motion_length
            )));
        }
        let sizes = [
            ("word_dim", self.word_dim),
            ("movement_hidden", self.movement_hidden),
            ("movement_latent", self.movement_latent),
            ("motion_hidden", self.motion_hidden),
            ("text_hidden", self.text_hidden),
            ("embedding_dim", self.embedding_dim),
        ];
        match sizes.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(Error::Invalid(format!("{name} must be > 0"))),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
pub struct Evaluator {
    pub(crate) cfg: EvaluatorConfig,
    pub(crate) vs: nn::VarStore,
    movement: MovementEncoder,
    motion: MotionEncoder,
    text: TextEncoder,
    pub(crate) stats: FeatureStats,
    /// Mean and std `[1, 1, F]` on the device.
    mean: Tensor,
    std: Tensor,
    pub(crate) vocab_source: VocabSource,
    vocab: WordVectors,
    /// What this evaluator is (written into the card): "keta" for ours, "humanml3d" for converted
    /// official weights.
    pub(crate) origin: String,
}

impl Evaluator {
    /// A freshly initialised evaluator.
    pub fn new(
        cfg: EvaluatorConfig,
        stats: FeatureStats,
        vocab_source: VocabSource,
        vocab: WordVectors,
        origin: &str,
        device: Device,
    ) -> Result<Self> {
        cfg.validate()?;
        if vocab.dim() != cfg.word_dim {
            return Err(Error::Invalid(format!(
                "the word vectors have {} dims but the evaluator's word_dim is {}; use matching vectors",
                vocab.dim(),
                cfg.word_dim
            )));
        }
        stats.check(cfg.feature_dim)?;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let i = |v: usize| v as i64;
        let movement = MovementEncoder::new(
            &(&root / "movement_encoder"),
            i(cfg.feature_dim - cfg.contact_dims),
            i(cfg.movement_hidden),
            i(cfg.movement_latent),
        );
        let motion = MotionEncoder::new(
            &(&root / "motion_encoder"),
            i(cfg.movement_latent),
            i(cfg.motion_hidden),
            i(cfg.embedding_dim),
        );
        let text = TextEncoder::new(
            &(&root / "text_encoder"),
            i(cfg.word_dim),
            POS_CLASSES as i64,
            i(cfg.text_hidden),
            i(cfg.embedding_dim),
        );
        let f = i(cfg.feature_dim);
        let mean = Tensor::from_slice(&stats.mean)
            .view([1, 1, f])
            .to_device(device);
        let std = Tensor::from_slice(&stats.std)
            .view([1, 1, f])
            .to_device(device);
        Ok(Evaluator {
            cfg,
            vs,
            movement,
            motion,
            text,
            stats,
            mean,
            std,
            vocab_source,
            vocab,
            origin: origin.to_string(),
        })
    }

    pub fn config(&self) -> &EvaluatorConfig {
        &self.cfg
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn word_vectors(&self) -> &WordVectors {
        &self.vocab
    }

    /// Refuses a model whose motion features differ from the evaluator's (a different layout
    /// cannot be re-normalised into this one).
    pub fn check_layout(&self, feature_dim: usize) -> Result<()> {
        if feature_dim != self.cfg.feature_dim {
            return Err(Error::Invalid(format!(
                "motion features have {feature_dim} values per frame but this evaluator reads {}; \
                 evaluate a model only with an evaluator of the same feature layout",
                self.cfg.feature_dim
            )));
        }
        Ok(())
    }

    /// Text embeddings `[N, E]` of captions, tagged by [`crate::pos`].
    pub fn encode_captions(&self, captions: &[&str]) -> Result<Tensor> {
        let tokens: Vec<Vec<String>> = captions.iter().map(|c| humanml3d_tokens(c)).collect();
        self.encode_tokens(&tokens)
    }

    /// Text embeddings `[N, E]` of `word/POS` token lists (as HumanML3D text files store them).
    pub fn encode_tokens(&self, tokens: &[Vec<String>]) -> Result<Tensor> {
        let seqs: Vec<TokenSequence> = tokens.iter().map(|t| evaluator_tokens(t)).collect();
        tch::no_grad(|| self.text_forward(&seqs, false))
    }

    /// Motion embeddings `[N, E]` of de-normalised features `[N, T, F]` (real units, as the
    /// model's Mean/Std undo them) with `lengths` in frames (4 ..= min(T, max_motion_length));
    /// frames past a length are ignored. Row i of the result belongs to motion i (the reference returns them sorted
    /// by length). A motion with NaN frames gets a NaN row: screen such rows before the metrics.
    pub fn encode_motions(&self, feats: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        tch::no_grad(|| self.motion_forward(feats, lengths, false))
    }

    pub(crate) fn text_forward(&self, seqs: &[TokenSequence], train: bool) -> Result<Tensor> {
        let (words, pos) = self.vocab.embed(seqs, self.device())?; // [N, L, D], [N, L, 15]
        let lens: Vec<i64> = seqs.iter().map(|s| s.len as i64).collect();
        let lens = Tensor::from_slice(&lens).to_device(self.device());
        Ok(self.text.forward(&words, &pos, &lens, train)) // [N, E]
    }

    pub(crate) fn motion_forward(
        &self,
        feats: &Tensor,
        lengths: &[usize],
        train: bool,
    ) -> Result<Tensor> {
        let size = feats.size();
        if size.len() != 3 {
            return Err(Error::Shape {
                what: "motion features".into(),
                expected: format!("[N, T, {}]", self.cfg.feature_dim),
                got: size,
            });
        }
        self.check_layout(size[2] as usize)?;
        let (n, t) = (size[0], size[1]);
        if lengths.len() as i64 != n {
            return Err(Error::Invalid(format!(
                "{} lengths for {n} motions; give one length per motion",
                lengths.len()
            )));
        }
        let max = self.cfg.max_motion_length as i64;
        if let Some(bad) = lengths
            .iter()
            .find(|&&l| l < UNIT_LENGTH || l as i64 > t.min(max))
        {
            return Err(Error::Invalid(format!(
                "motion length {bad} frames is outside {UNIT_LENGTH}..={} (at least one movement \
                 unit of {UNIT_LENGTH} frames, at most the padded length and the evaluator's \
                 max_motion_length {max}: crop longer motions, as the reference does)",
                t.min(max)
            )));
        }
        let dev = self.device();
        let frames: Vec<i64> = lengths.iter().map(|&l| l as i64).collect();
        let frames = Tensor::from_slice(&frames).to_device(dev);
        // 1. Evaluator normalisation; padding is zero in normalised units, as the reference pads.
        let x = (feats.to_device(dev).to_kind(Kind::Float) - &self.mean) / &self.std; // [N, T, F]
        let real = Tensor::arange(t, (Kind::Int64, dev))
            .view([1, t])
            .lt_tensor(&frames.view([n, 1]))
            .unsqueeze(-1); // [N, T, 1]
        let x = x.where_self(&real, &Tensor::zeros([1], (Kind::Float, dev))); // [N, T, F]
        let x = if t < max {
            x.constant_pad_nd([0, 0, 0, max - t]) // [N, max, F]
        } else {
            x.narrow(1, 0, max) // [N, max, F]
        };
        // 2. Foot contacts dropped, movement latents at a quarter of the frame rate.
        let keep = (self.cfg.feature_dim - self.cfg.contact_dims) as i64;
        let movements = self.movement.forward(&x.narrow(2, 0, keep), train); // [N, T/4, latent]
                                                                             // 3. Motion BiGRU over each motion's own number of units.
        let units = frames.divide_scalar_mode(UNIT_LENGTH as i64, "floor"); // [N]
        Ok(self.motion.forward(&movements, &units, train)) // [N, E]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::tests::{tiny_config, tiny_evaluator};

    #[test]
    fn embeddings_ignore_padding_and_keep_input_order() {
        let ev = tiny_evaluator();
        let f = tiny_config().feature_dim as i64;
        let a = Tensor::randn([1, 12, f], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([1, 20, f], (Kind::Float, Device::Cpu));
        let one_a = ev.encode_motions(&a, &[12]).unwrap();
        let one_b = ev.encode_motions(&b, &[17]).unwrap();
        // Pad a to 20 frames with NaN: frames past the length never reach the networks.
        let pad = Tensor::full([1, 8, f], f64::NAN, (Kind::Float, Device::Cpu));
        let both = Tensor::cat(&[Tensor::cat(&[a, pad], 1), b], 0);
        let two = ev.encode_motions(&both, &[12, 17]).unwrap();
        assert!((two.get(0) - one_a.get(0)).abs().max().double_value(&[]) < 1e-5);
        assert!((two.get(1) - one_b.get(0)).abs().max().double_value(&[]) < 1e-5);
        assert_eq!(two.size(), [2, tiny_config().embedding_dim as i64]);
        let texts = ev
            .encode_captions(&["a person walks forward", "someone jumps twice"])
            .unwrap();
        assert_eq!(texts.size(), [2, tiny_config().embedding_dim as i64]);
    }

    #[test]
    fn bad_motion_input_is_refused_with_the_fix() {
        let ev = tiny_evaluator();
        let f = tiny_config().feature_dim as i64;
        let x = Tensor::zeros([2, 8, f + 1], (Kind::Float, Device::Cpu));
        let err = ev.encode_motions(&x, &[8, 8]).unwrap_err().to_string();
        assert!(err.contains("same feature layout"), "{err}");
        let x = Tensor::zeros([2, 8, f], (Kind::Float, Device::Cpu));
        assert!(ev
            .encode_motions(&x, &[8])
            .unwrap_err()
            .to_string()
            .contains("one length per motion"));
        assert!(ev
            .encode_motions(&x, &[3, 8])
            .unwrap_err()
            .to_string()
            .contains("outside 4..=8"));
    }
}
