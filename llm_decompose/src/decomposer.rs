/// Most sub-sentences a decomposition may have.
pub const MAX_SENTENCES: usize = 20;
/// Longest sub-sentence accepted, in characters.
pub const MAX_SENTENCE_CHARS: usize = 200;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("a decomposition needs 1 to {MAX_SENTENCES} sentences, got {0}")]
    Count(usize),
    #[error("sentence {index} is empty")]
    Empty { index: usize },
    #[error("sentence {index} has {chars} characters (at most {MAX_SENTENCE_CHARS})")]
    TooLong { index: usize, chars: usize },
}

/// A backend that turns a caption into sub-sentences in time order.
pub trait Decomposer {
    /// Backend name as written in cache files and `decompose --json` (`rules`, `llm`).
    fn backend(&self) -> &str;
    fn decompose(&self, caption: &str) -> Result<Vec<String>, Error>;
}

/// Trims each sentence and checks the count and lengths every backend's answer must satisfy.
pub fn validate_sentences(sentences: Vec<String>) -> Result<Vec<String>, Error> {
    let sentences: Vec<String> = sentences
        .into_iter()
        .map(|s| s.trim().to_string())
        .collect();
    if sentences.is_empty() || sentences.len() > MAX_SENTENCES {
        return Err(Error::Count(sentences.len()));
    }
    for (index, s) in sentences.iter().enumerate() {
        let chars = s.chars().count();
        if chars == 0 {
            return Err(Error::Empty { index });
        }
        if chars > MAX_SENTENCE_CHARS {
            return Err(Error::TooLong { index, chars });
        }
    }
    Ok(sentences)
}

/// The form of a caption used in cache keys: lower case, single spaces, no trailing period.
pub fn normalise_caption(caption: &str) -> String {
    let joined = caption
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    joined.trim_end_matches(['.', ' ']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_trims_and_enforces_limits() {
        let ok = validate_sentences(vec![" a man walks ".into(), "a man jumps".into()]).unwrap();
        assert_eq!(ok, vec!["a man walks", "a man jumps"]);
        assert_eq!(validate_sentences(vec![]), Err(Error::Count(0)));
        assert_eq!(
            validate_sentences(vec!["x".into(); 21]),
            Err(Error::Count(21))
        );
        assert_eq!(
            validate_sentences(vec!["x".into(), "  ".into()]),
            Err(Error::Empty { index: 1 })
        );
        assert_eq!(
            validate_sentences(vec!["é".repeat(201)]),
            Err(Error::TooLong {
                index: 0,
                chars: 201
            })
        );
        assert!(validate_sentences(vec!["é".repeat(200)]).is_ok());
    }

    #[test]
    fn captions_normalise_for_cache_keys() {
        assert_eq!(
            normalise_caption("  A man  walks,\tthen JUMPS. "),
            "a man walks, then jumps"
        );
        assert_eq!(
            normalise_caption("a man walks"),
            normalise_caption("A MAN WALKS.")
        );
    }
}
