//! The training log: one JSON object per line (JSONL), each with an integer `"step"`, appended and
//! flushed as training goes so that a crash loses at most the line being written. A resumed run
//! first cuts the log back to its checkpoint's step, so the steps after it (which the resumed run
//! will redo) are not logged twice.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// An open JSONL log.
#[derive(Debug)]
pub struct TrainLog {
    path: PathBuf,
    /// None: records are dropped (ranks other than 0 of a multi-GPU run).
    file: Option<File>,
}

impl TrainLog {
    /// Opens `path` for appending. `resume_step: None` starts a fresh log (truncating any old one);
    /// `Some(s)` keeps the records with `step <= s`, rewriting the file atomically, and appends
    /// after them (no file yet: a fresh log). On resume a last line without its newline, the trace of
    /// a crash mid-write, is dropped; any other malformed line is an error naming it.
    pub fn open(path: &Path, resume_step: Option<u64>) -> Result<TrainLog> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match resume_step {
            None => File::create(path).map_err(io)?,
            Some(step) => {
                if path.exists() {
                    let kept = records_up_to(path, step)?;
                    write_atomic(path, kept.as_bytes())?;
                }
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io)?
            }
        };
        Ok(TrainLog {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    /// A log that drops its records: ranks other than 0 step through the same loop, but rank 0
    /// alone writes `path`.
    pub fn discard(path: &Path) -> TrainLog {
        TrainLog {
            path: path.to_path_buf(),
            file: None,
        }
    }

    /// Appends `record` (a JSON object with an integer `"step"`) as one line and flushes it.
    pub fn append(&mut self, record: &Value) -> Result<()> {
        if step_of(record).is_none() {
            return Err(Error::Invalid(format!(
                "a log record needs an integer \"step\", got {record}"
            )));
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        // One write call for the whole line, so a crash cuts at most this line.
        let mut line = record.to_string();
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every record of a JSONL log, in order. A line that is not a JSON object with an integer
/// `"step"` is an error naming its number (1-based).
pub fn read_records(path: &Path) -> Result<Vec<Value>> {
    let text = read(path)?;
    text.lines()
        .enumerate()
        .map(|(i, line)| parse_line(path, i + 1, line))
        .collect()
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn step_of(record: &Value) -> Option<u64> {
    record.get("step")?.as_u64()
}

fn parse_line(path: &Path, number: usize, line: &str) -> Result<Value> {
    let bad = |msg: String| Error::File {
        path: path.to_path_buf(),
        msg: format!("line {number}: {msg}"),
    };
    let record: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    if step_of(&record).is_none() {
        return Err(bad("no integer \"step\"".into()));
    }
    Ok(record)
}

/// The text of the lines of `path` whose step is `<= step`, each with its newline, unchanged.
fn records_up_to(path: &Path, step: u64) -> Result<String> {
    let text = read(path)?;
    let mut kept = String::with_capacity(text.len());
    for (i, piece) in text.split_inclusive('\n').enumerate() {
        let (line, complete) = match piece.strip_suffix('\n') {
            Some(line) => (line, true),
            None => (piece, false),
        };
        let record = match parse_line(path, i + 1, line) {
            Ok(record) => record,
            Err(_) if !complete => break, // torn last write
            Err(e) => return Err(e),
        };
        if step_of(&record).is_some_and(|s| s <= step) {
            kept.push_str(piece);
            if !complete {
                kept.push('\n');
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_lines_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut log = TrainLog::open(&path, None).unwrap();
        let records = [
            json!({"step": 1, "loss": 0.5}),
            json!({"step": 2, "loss": 0.25, "lr": 1e-4}),
        ];
        for r in &records {
            log.append(r).unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "flushed after each line: {text}");
        assert!(text.ends_with("}\n"), "{text}");
        assert_eq!(read_records(&path).unwrap(), records);
        let e = log.append(&json!({"loss": 1.0})).unwrap_err().to_string();
        assert!(e.contains("\"step\"") && e.contains("loss"), "{e}");

        // A fresh open truncates.
        drop(log);
        TrainLog::open(&path, None).unwrap();
        assert_eq!(read_records(&path).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn resume_keeps_the_records_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut log = TrainLog::open(&path, None).unwrap();
        for step in [10, 20, 30, 40] {
            log.append(&json!({"step": step})).unwrap();
        }
        drop(log);
        // The crash tore the next line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"step\": 5").unwrap();
        drop(f);

        let mut log = TrainLog::open(&path, Some(20)).unwrap();
        log.append(&json!({"step": 21, "resumed": true})).unwrap();
        let steps: Vec<u64> = read_records(&path)
            .unwrap()
            .iter()
            .map(|r| r["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [10, 20, 21]);
        assert_eq!(log.path(), path);

        // Resuming without a log starts one.
        let other = dir.path().join("new.jsonl");
        TrainLog::open(&other, Some(3))
            .unwrap()
            .append(&json!({"step": 4}))
            .unwrap();
        assert_eq!(read_records(&other).unwrap(), [json!({"step": 4})]);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, "{\"step\": 1}\n{\"step\": \n{\"step\": 3}\n").unwrap();
        let e = read_records(&path).unwrap_err().to_string();
        assert!(e.contains("log.jsonl: line 2:"), "{e}");
        let e = TrainLog::open(&path, Some(5)).unwrap_err().to_string();
        assert!(e.contains("line 2:"), "{e}");
        assert!(
            fs::read_to_string(&path).unwrap().contains("{\"step\": 3}"),
            "a failed resume leaves the log alone"
        );
        fs::write(&path, "{\"step\": 1}\n{\"loss\": 2}\n").unwrap();
        let e = read_records(&path).unwrap_err().to_string();
        assert!(e.contains("line 2: no integer \"step\""), "{e}");
    }
}
