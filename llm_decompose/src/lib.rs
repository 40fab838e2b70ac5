//! Caption decomposition into time-ordered sub-sentences (method.md section 3). So far: the
//! [`Decomposer`] trait every backend implements and the validation every answer must pass.

mod decomposer;

pub use decomposer::{
    normalise_caption, validate_sentences, Decomposer, Error, MAX_SENTENCES, MAX_SENTENCE_CHARS,
};
