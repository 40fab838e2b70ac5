//! Text for keta: the sentence encoder (all-MiniLM-L6-v2: `tokenizers` + a BERT written with tch
//! modules, weights from safetensors) that turns captions and sub-sentences into 384-d vectors,
//! and the pooling it uses.

pub mod assets;
mod bert;
mod encoder;
mod error;
mod pool;

pub use bert::{BertConfig, BertModel};
pub use encoder::{Encoded, SentenceEncoder, TokenStates, EMBEDDING_DIM, ENCODER_ID, MAX_TOKENS};
pub use error::{Error, Result};
pub use pool::masked_mean_l2;

#[cfg(test)]
mod tests;
