//! Checkpoint folders (architecture.md, "Outputs and files"): `OUT/ckpt-<step>/` holds the files the
//! trainer writes (config, weights, optimizer state, train state). The order of operations makes a
//! crash at any point leave either the previous checkpoint or the new one, never a half one:
//!
//! 1. write everything into `OUT/ckpt-<step>.tmp/` and fsync each file and the folder;
//! 2. rename it to `OUT/ckpt-<step>/` (a name is never reused: an existing one is an error) and
//!    fsync `OUT`;
//! 3. replace `OUT/latest` (one line, the folder name) by temp file and rename;
//! 4. prune old folders and stale `.tmp` folders.
//!
//! Resume reads `latest` only, never "the highest step on disk" nor a step parsed from a name
//! (MDM's `training_loop.py` does both): the step lives in the checkpoint's own train state.
//! Also here: atomic safetensors and JSON files, the formats a checkpoint holds.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::Tensor;

use crate::atomic::{temp_path, write_atomic, write_atomic_with};
use crate::error::{Error, Result};

/// The pointer file in `OUT`: one line, the name of the newest complete checkpoint folder.
pub const LATEST: &str = "latest";

/// Writes checkpoint `step` under `out` (created if needed): `write` fills the temp folder it is
/// given; then sync, rename, `latest`, and pruning to the `keep` highest steps plus the folder
/// `latest` names. Returns the final folder. A failing `write` removes the temp folder and
/// leaves `latest` as it was.
pub fn save_checkpoint(
    out: &Path,
    step: u64,
    keep: usize,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    if keep == 0 {
        return Err(Error::Invalid(
            "keep 0 checkpoints would delete the one just written; keep at least 1".into(),
        ));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    fs::create_dir_all(out).map_err(io(out))?;
    let name = folder_name(step);
    let dir = out.join(&name);
    if dir.exists() {
        return Err(Error::File {
            path: dir,
            msg: "already exists: checkpoint names are never reused (resume from `latest`, or \
                  write to a new output folder)"
                .into(),
        });
    }
    let tmp = out.join(format!("{name}.tmp"));
    if tmp.exists() {
        // Left by a crash during an earlier save of this step: never complete, never pointed at.
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir(&tmp).map_err(io(&tmp))?;
    if let Err(e) = write(&tmp).and_then(|()| sync_tree(&tmp)) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &dir).map_err(io(&dir))?;
    sync_dir(out)?;
    write_atomic(&out.join(LATEST), format!("{name}\n").as_bytes())?;
    prune(out, keep, &name)?;
    Ok(dir)
}

/// The folder `out/latest` names, or `None` when there is no `latest` (a fresh run). A `latest`
/// that is not a checkpoint name, or names a missing folder, is an error naming both.
pub fn latest_checkpoint(out: &Path) -> Result<Option<PathBuf>> {
    let pointer = out.join(LATEST);
    let text = match fs::read_to_string(&pointer) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: pointer,
                source,
            })
        }
    };
    let name = text.trim_end_matches('\n');
    if parse_step(name).is_none() {
        return Err(Error::File {
            path: pointer,
            msg: format!("holds {name:?}, not a checkpoint folder name like \"ckpt-1000\""),
        });
    }
    let dir = out.join(name);
    if !dir.is_dir() {
        return Err(Error::File {
            msg: format!("names {}, which does not exist", dir.display()),
            path: pointer,
        });
    }
    Ok(Some(dir))
}

/// Writes named tensors as a safetensors file, atomically (temp file, fsync, rename). Tensors may
/// live on any device; views of a flat buffer are fine.
pub fn save_safetensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    let tmp = temp_path(path);
    let result = Tensor::write_safetensors(named, &tmp)
        .map_err(|e| Error::File {
            path: path.to_path_buf(),
            msg: format!("cannot write safetensors: {e}"),
        })
        .and_then(|()| {
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .and_then(|()| fs::rename(&tmp, path))
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads every tensor of a safetensors file (on the CPU, in the file's kinds).
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).map_err(|e| Error::File {
        path: path.to_path_buf(),
        msg: format!("cannot read safetensors: {e}"),
    })
}

/// Writes `value` as pretty JSON plus a newline, atomically.
pub fn save_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")
    })
}

/// Reads a JSON file into `T`; a parse error names the file, line and column.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::File {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

fn folder_name(step: u64) -> String {
    format!("ckpt-{step}")
}

/// The step of a folder named exactly `ckpt-<digits>`.
fn parse_step(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("ckpt-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Fsyncs every file under `dir`, then the folders themselves, so the rename publishes content
/// that is on disk.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let path = entry
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|source| Error::Io { path, source })?;
        }
    }
    sync_dir(dir)
}

/// Fsyncs a folder's entries (a rename inside it), which Linux allows on a read-only handle.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Removes checkpoint folders beyond the `keep` highest steps, except `latest` (which a save of an
/// older step after a resume can make lower than others), and every stale `ckpt-<step>.tmp`.
fn prune(out: &Path, keep: usize, latest: &str) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut done = Vec::new();
    let mut stale = Vec::new();
    for entry in fs::read_dir(out).map_err(io(out))? {
        let entry = entry.map_err(io(out))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() {
            continue;
        }
        if let Some(step) = parse_step(&name) {
            done.push((step, name));
        } else if name.strip_suffix(".tmp").and_then(parse_step).is_some() {
            stale.push(name);
        }
    }
    done.sort_unstable_by_key(|(step, _)| std::cmp::Reverse(*step));
    let old = done.into_iter().skip(keep).map(|(_, name)| name);
    for name in old.filter(|n| n != latest).chain(stale) {
        let path = out.join(name);
        fs::remove_dir_all(&path).map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn names(out: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn state(step: u64) -> serde_json::Value {
        serde_json::json!({ "step": step, "lr": 1e-4 })
    }

    fn save(out: &Path, step: u64, keep: usize) -> Result<PathBuf> {
        save_checkpoint(out, step, keep, |dir| {
            save_json(&dir.join("train_state.json"), &state(step))?;
            let w = Tensor::arange(6, (Kind::Float, Device::Cpu)) * step as f64;
            save_safetensors(
                &dir.join("weights.safetensors"),
                &[("layer.weight".into(), w.view([2, 3]))],
            )
        })
    }

    #[test]
    fn writes_the_folder_then_points_latest_at_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        assert_eq!(latest_checkpoint(&out).unwrap(), None, "a fresh run");
        let dir = save(&out, 100, 3).unwrap();
        assert_eq!(dir, out.join("ckpt-100"));
        assert_eq!(names(&out), ["ckpt-100", "latest"]);
        assert_eq!(names(&dir), ["train_state.json", "weights.safetensors"]);
        assert_eq!(fs::read_to_string(out.join(LATEST)).unwrap(), "ckpt-100\n");
        assert_eq!(latest_checkpoint(&out).unwrap(), Some(dir.clone()));

        let back: serde_json::Value = read_json(&dir.join("train_state.json")).unwrap();
        assert_eq!(back, state(100));
        let w = read_safetensors(&dir.join("weights.safetensors")).unwrap();
        assert_eq!(w[0].0, "layer.weight");
        let want = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]) * 100.0;
        assert!(w[0].1.equal(&want));
    }

    #[test]
    fn keeps_the_highest_steps_and_the_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        for step in [1, 2, 3, 10] {
            save(out, step, 2).unwrap();
        }
        assert_eq!(
            names(out),
            ["ckpt-10", "ckpt-3", "latest"],
            "numeric, not text, order"
        );
        // A save of a lower step (a run resumed from an older checkpoint) survives its own pruning.
        save(out, 5, 1).unwrap();
        assert_eq!(names(out), ["ckpt-10", "ckpt-5", "latest"]);
        assert_eq!(latest_checkpoint(out).unwrap(), Some(out.join("ckpt-5")));
        let e = save(out, 6, 0).unwrap_err().to_string();
        assert!(e.contains("keep 0"), "{e}");
    }

    #[test]
    fn never_reuses_a_name() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        save(out, 7, 3).unwrap();
        let e = save_checkpoint(out, 7, 3, |_| panic!("must not write"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ckpt-7") && e.contains("never reused"), "{e}");
        assert_eq!(names(out), ["ckpt-7", "latest"]);
    }

    #[test]
    fn a_crash_leaves_the_previous_checkpoint_usable() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        save(out, 100, 3).unwrap();
        // A crash while writing step 200: a half-written temp folder, `latest` untouched.
        fs::create_dir(out.join("ckpt-200.tmp")).unwrap();
        fs::write(out.join("ckpt-200.tmp/weights.safetensors"), b"half").unwrap();
        assert_eq!(latest_checkpoint(out).unwrap(), Some(out.join("ckpt-100")));
        // A writer that fails cleans up after itself and changes nothing else.
        let e = save_checkpoint(out, 150, 3, |dir| {
            fs::write(dir.join("x"), b"partial").unwrap();
            Err(Error::Invalid("disk full".into()))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(names(out), ["ckpt-100", "ckpt-200.tmp", "latest"]);
        // The next save of step 200 replaces the stale folder; no `.tmp` remains.
        save(out, 200, 3).unwrap();
        assert_eq!(names(out), ["ckpt-100", "ckpt-200", "latest"]);
        let w = read_safetensors(&out.join("ckpt-200/weights.safetensors")).unwrap();
        assert_eq!(w.len(), 1);
        // Stale folders of other steps go at the next prune.
        fs::create_dir(out.join("ckpt-250.tmp")).unwrap();
        save(out, 300, 3).unwrap();
        assert_eq!(names(out), ["ckpt-100", "ckpt-200", "ckpt-300", "latest"]);
    }

    #[test]
    fn a_bad_latest_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        save(out, 1, 3).unwrap();
        fs::remove_dir_all(out.join("ckpt-1")).unwrap();
        let e = latest_checkpoint(out).unwrap_err().to_string();
        let pointer = out.join("latest").display().to_string();
        let folder = out.join("ckpt-1").display().to_string();
        assert!(e.contains(&pointer) && e.contains(&folder), "{e}");
        fs::write(out.join(LATEST), "../elsewhere\n").unwrap();
        let e = latest_checkpoint(out).unwrap_err().to_string();
        assert!(e.contains("\"../elsewhere\""), "{e}");
    }

    #[test]
    fn file_helpers_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("bad.json");
        fs::write(&bad, "{\"a\": }").unwrap();
        let e = read_json::<serde_json::Value>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json") && e.contains("line 1"), "{e}");
        let e = read_safetensors(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        let missing = tmp.path().join("no/such.safetensors");
        let e = save_safetensors(&missing, &[("a".into(), Tensor::from(1.0))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such.safetensors"), "{e}");
        assert_eq!(names(tmp.path()), ["bad.json"], "no temp file left");
    }
}
