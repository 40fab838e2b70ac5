use std::path::PathBuf;

/// Everything the motion crate can refuse, each naming the bad value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("expected a tensor of shape {expected}, got {got:?}")]
    Shape { expected: String, got: Vec<i64> },
    #[error(
        "{what} holds {count} non-finite value(s) (NaN or Inf), the first at flat index {first}"
    )]
    NonFinite {
        what: String,
        count: usize,
        first: usize,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("{}:{line}: {msg}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error(transparent)]
    Train(#[from] train::Error),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
