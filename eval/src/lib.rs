//! Evaluation by the HumanML3D protocol (method.md section 8).
//!
//! - [`Evaluator`]: the reference text-motion evaluator (`networks/modules.py` of
//!   text-to-motion: movement conv encoder, motion BiGRU, text BiGRU; 512-d embeddings), loaded
//!   from an evaluator folder ([`folder`] layout: `evaluator.json`, `weights.safetensors`,
//!   `mean.npy`/`std.npy`, word vectors). Ours uses the 50-d GloVe that `scripts/setup.sh`
//!   installs ([`VocabSource::glove_50d`]); official weights and 300-d vocabulary convert with
//!   `scripts/convert_evaluator.py` (parity with PyTorch tested in `tests/official_import.rs`).
//! - [`pos`]: our part-of-speech tagger for captions and the `word/POS` tokens of HumanML3D text
//!   files; [`glove`]: word vectors and the reference's token -> (vector, POS class) rule.
//! - [`metrics`]: FID, Diversity, MultiModality, MM-Dist, R-precision over batches of 32,
//!   replication summaries, NaN screening.
//!
//! How a command drives it (generated motions are de-normalised with the model's Mean/Std by the
//! caller; the evaluator re-normalises with its own):
//! ```text
//! let ev = Evaluator::load(dir, device)?;          ev.check_layout(model_feature_dim)?;
//! let real = ev.encode_motions(&real_feats, &real_lengths)?;          // [N, 512], once
//! per replication r (seed r):
//!   let text = ev.encode_tokens(&tokens)? or ev.encode_captions(&captions)?;   // [M, 512]
//!   let gen = ev.encode_motions(&generated_feats, &lengths)?;                    // [M, 512]
//!   let valid = metrics::finite_rows(&generated_feats);      // NaN motions: counted, dropped
//!   let (gen, dropped) = metrics::keep_valid(&gen, &valid)?; let (text, _) = keep_valid(&text, &valid)?;
//!   metrics::r_precision_batched(&text, &gen)?  metrics::mm_dist  metrics::fid(&gen, &real)?
//!   metrics::diversity(&gen, 300, seed)?   metrics::multimodality(&groups, 10, seed)?
//! metrics::Replications::new(values)? -> mean, interval95
//! ```
//! Embeddings come back in input order; encode in chunks to bound memory.

mod encoders;
mod error;
mod evaluator;
pub mod folder;
pub mod glove;
mod gru;
pub mod metrics;
pub mod pos;
pub mod protocol;
pub mod report;
mod retrieval;
pub mod training;

pub use error::{Error, Result};
pub use evaluator::{Evaluator, EvaluatorConfig, UNIT_LENGTH};
pub use folder::{EvaluatorCard, FeatureStats, VocabSource};
pub use retrieval::{euclidean_distances, r_precision};
