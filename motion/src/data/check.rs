//! `keta data check DIR`: reads every file a data folder's splits name and reports counts, lengths,
//! captions per motion and every bad file with its reason. It never stops at the first problem and
//! never writes.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::data::captions::parse_line;
use crate::data::dataset::LoadOptions;
use crate::data::layout::{
    captions_path, joints_path, read_features, read_split, FEATURES_DIR, SPLITS,
};
use crate::data::normalization::Normalization;
use crate::error::Error;
use crate::npy;
use crate::skeleton::NUM_JOINTS;

/// One bad file (or line).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub dir: PathBuf,
    /// Split name and its id count (`None`: split file missing).
    pub splits: Vec<(String, Option<usize>)>,
    /// Distinct ids named by the splits (or found in new_joint_vecs/ when no split file exists).
    pub ids: usize,
    /// Row counts of the readable motions.
    pub rows: Vec<usize>,
    /// Caption lines per readable caption file.
    pub captions: Vec<usize>,
    /// Motions (whole clips) inside the loader's length filter.
    pub usable: usize,
    pub normalization: String,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the folder `dir`; `progress(done, total)` per motion.
pub fn check(dir: &Path, mut progress: impl FnMut(usize, usize)) -> CheckReport {
    let mut report = CheckReport {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    let problem = |report: &mut CheckReport, e: Error| report.problems.push(problem_of(e));
    let mut ids = BTreeSet::new();
    for split in SPLITS {
        match read_split(dir, split) {
            Ok(list) => {
                report.splits.push((split.to_string(), Some(list.len())));
                ids.extend(list);
            }
            Err(e) => {
                report.splits.push((split.to_string(), None));
                problem(&mut report, e);
            }
        }
    }
    if report.splits.iter().all(|(_, n)| n.is_none()) {
        ids.extend(ids_in(&dir.join(FEATURES_DIR)));
    }
    report.ids = ids.len();
    let limits = LoadOptions::default();
    for (k, id) in ids.iter().enumerate() {
        progress(k, report.ids);
        let rows = match read_features(dir, id) {
            Ok((rows, _)) => Some(rows),
            Err(e) => {
                problem(&mut report, e);
                None
            }
        };
        if let Some(rows) = rows {
            report.rows.push(rows);
            report.usable += usize::from((limits.min_rows..limits.max_rows).contains(&rows));
            check_joints(dir, id, rows, &mut report);
        }
        check_captions(dir, id, rows, &mut report);
    }
    progress(report.ids, report.ids);
    let mut notes = Vec::new();
    report.normalization = match (dir.join("Mean.npy").exists(), dir.join("Std.npy").exists()) {
        (true, true) => match Normalization::for_data_dir(dir, &mut notes) {
            Ok(_) => "Mean.npy and Std.npy present and valid".into(),
            Err(e) => {
                problem(&mut report, e);
                "Mean.npy/Std.npy invalid".into()
            }
        },
        _ => "Mean.npy/Std.npy absent: loaders compute them from the train split".into(),
    };
    report
}

fn check_joints(dir: &Path, id: &str, rows: usize, report: &mut CheckReport) {
    let path = joints_path(dir, id);
    if !path.exists() {
        return; // optional: the features are what training reads
    }
    match npy::read_f64(&path) {
        Ok(a) if a.shape() != [rows, NUM_JOINTS, 3] => report.problems.push(Problem {
            reason: format!(
                "expected shape [{rows}, 22, 3] (as many rows as the features), got {:?}",
                a.shape()
            ),
            path,
            line: None,
        }),
        Ok(a) if a.iter().any(|v| !v.is_finite()) => report.problems.push(Problem {
            path,
            line: None,
            reason: "holds NaN or Inf".into(),
        }),
        Ok(_) => {}
        Err(e) => report.problems.push(problem_of(e)),
    }
}

fn check_captions(dir: &Path, id: &str, rows: Option<usize>, report: &mut CheckReport) {
    let path = captions_path(dir, id);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(Problem {
                path,
                line: None,
                reason: format!("cannot read captions: {e}"),
            });
            return;
        }
    };
    let (mut count, mut lines) = (0, 0);
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        lines += 1;
        match parse_line(&path, i + 1, line) {
            Ok(cap) => {
                count += 1;
                if let (Some(r), Some(rows)) = (cap.rows, rows) {
                    if r.end > rows {
                        report.problems.push(Problem {
                            path: path.clone(),
                            line: Some(i + 1),
                            reason: format!(
                                "sub-clip ends at row {} but the motion has only {rows} rows",
                                r.end
                            ),
                        });
                    }
                }
            }
            Err(e) => report.problems.push(problem_of(e)),
        }
    }
    if lines == 0 {
        report.problems.push(Problem {
            path,
            line: None,
            reason: "no caption lines".into(),
        });
    }
    report.captions.push(count);
}

fn problem_of(e: Error) -> Problem {
    match e {
        Error::File { path, msg } => Problem {
            path,
            line: None,
            reason: msg,
        },
        Error::Line { path, line, msg } => Problem {
            path,
            line: Some(line),
            reason: msg,
        },
        other => Problem {
            path: PathBuf::new(),
            line: None,
            reason: other.to_string(),
        },
    }
}

fn ids_in(folder: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".npy"))
                .map(str::to_string)
        })
        .collect()
}

fn summary(values: &[usize]) -> String {
    if values.is_empty() {
        return "none".into();
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let mean = v.iter().sum::<usize>() as f64 / v.len() as f64;
    format!(
        "min {}, median {}, mean {mean:.1}, max {}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data folder: {}", self.dir.display())?;
        for (split, n) in &self.splits {
            match n {
                Some(n) => writeln!(f, "  {split:<5} {n} ids")?,
                None => writeln!(f, "  {split:<5} missing")?,
            }
        }
        writeln!(
            f,
            "motions: {} named, {} readable, {} inside the 40..200-row filter",
            self.ids,
            self.rows.len(),
            self.usable
        )?;
        writeln!(f, "rows per motion: {}", summary(&self.rows))?;
        writeln!(f, "captions per motion: {}", summary(&self.captions))?;
        writeln!(f, "normalisation: {}", self.normalization)?;
        if self.problems.is_empty() {
            return writeln!(f, "problems: none");
        }
        writeln!(f, "problems: {}", self.problems.len())?;
        for p in &self.problems {
            match p.line {
                Some(l) => writeln!(f, "  {}:{l}: {}", p.path.display(), p.reason)?,
                None => writeln!(f, "  {}: {}", p.path.display(), p.reason)?,
            }
        }
        Ok(())
    }
}
