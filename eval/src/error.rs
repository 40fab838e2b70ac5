use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that could not be read or written, or whose content is wrong.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// A tensor argument of the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        what: String,
        expected: String,
        got: Vec<i64>,
    },
    /// Too little data for a metric (R-precision needs whole batches of 32, diversity more
    /// motions than pairs, ...).
    #[error("{what}: {got} given, at least {need} needed; {fix}")]
    TooFew {
        what: String,
        got: usize,
        need: usize,
        fix: String,
    },
    /// Any other bad value, with the fix in the message.
    #[error("{0}")]
    Invalid(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The `File` error for an I/O failure at `path`.
pub(crate) fn file_err(path: &std::path::Path, err: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        msg: err.to_string(),
    }
}
