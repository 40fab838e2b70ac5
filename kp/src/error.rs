/// What KP extraction and scoring refuse, each naming the bad value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("expected {expected}, got shape {got:?}")]
    Shape { expected: String, got: Vec<i64> },
    #[error("joints hold {count} non-finite value(s) (NaN or Inf)")]
    NonFinite { count: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;
