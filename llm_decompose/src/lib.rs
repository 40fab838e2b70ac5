//! Caption decomposition into time-ordered sub-sentences (method.md section 3): the [`Decomposer`]
//! trait, the validation every answer must pass, the offline `rules` backend (the default) and the
//! `llm` backend (an OpenAI-compatible client that falls back to the rules).

mod decomposer;
pub mod openai;
pub mod rules;

pub use decomposer::{
    normalise_caption, validate_sentences, Decomposer, Error, MAX_SENTENCES, MAX_SENTENCE_CHARS,
};
pub use openai::{LlmClient, LlmConfig, LlmError, Outcome, WithFallback, PROMPT_VERSION};
pub use rules::Rules;
