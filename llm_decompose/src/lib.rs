//! Caption decomposition into time-ordered sub-sentences (method.md section 3): the [`Decomposer`]
//! trait, the validation every answer must pass, and the offline `rules` backend.

mod decomposer;
pub mod rules;

pub use decomposer::{
    normalise_caption, validate_sentences, Decomposer, Error, MAX_SENTENCES, MAX_SENTENCE_CHARS,
};
pub use rules::Rules;
