//! What the shared training pieces refuse, each error naming the bad value, key or file.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file whose content is wrong: unreadable safetensors, strict-load key problems, a malformed
    /// log line, a `latest` pointer to nowhere, a plot that could not be drawn.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("expected {expected}, got shape {got:?}")]
    Shape { expected: String, got: Vec<i64> },
    /// Strict copy of named tensors: missing or unexpected keys, shape mismatches (no file known yet;
    /// [`Error::in_file`] adds it).
    #[error("{0}")]
    Keys(String),
    /// A configuration or layout that cannot work; the message names the value and the fix.
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Torch {
        context: String,
        source: tch::TchError,
    },
}

impl Error {
    /// Names the file an error came from, for errors raised on data read from it (strict copies of
    /// named tensors); errors that already name a file pass through unchanged.
    pub fn in_file(self, path: &Path) -> Error {
        match self {
            Error::Io { .. } | Error::File { .. } => self,
            other => Error::File {
                path: path.to_path_buf(),
                msg: other.to_string(),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_file_names_the_file_once() {
        let e =
            Error::Keys("missing key(s) a.weight".into()).in_file(Path::new("/x/m.safetensors"));
        assert_eq!(e.to_string(), "/x/m.safetensors: missing key(s) a.weight");
        let again = e.in_file(Path::new("/other"));
        assert_eq!(
            again.to_string(),
            "/x/m.safetensors: missing key(s) a.weight"
        );
    }
}
