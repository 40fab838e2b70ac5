//! The loop every keta trainer runs, top-down as nanoGPT's `train.py`: step; on their own cadence
//! log the mean losses (a non-finite one stops the run naming its step, before anything after the
//! last checkpoint is saved), validate, checkpoint; stop at the step count or the time limit.
//! What a step, a validation or a checkpoint is belongs to the trainer ([`Trainee`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use tch::{Kind, Tensor};

use crate::error::Error;
use crate::log::TrainLog;

/// How long a run is and how often it reports (each trainer's config fills one in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    pub steps: u64,
    pub log_every: u64,
    pub val_every: u64,
    pub ckpt_every: u64,
    /// Stop (after checkpointing) once this much wall time has passed in this process.
    pub time_limit_minutes: Option<f64>,
}

/// One trainer, seen by the loop.
pub trait Trainee {
    type Error: From<Error>;
    /// Steps taken so far (after a resume: the checkpoint's).
    fn steps(&self) -> u64;
    /// One optimizer step. Returns named losses (detached, on the device: the loop reads them in
    /// batches at logging time, so that steps do not wait for the device); the first is the loss.
    fn step(&mut self) -> Result<Vec<(&'static str, Tensor)>, Self::Error>;
    /// Extra fields of a log record (learning rate, gradient norm, epoch...).
    fn log_fields(&mut self) -> Result<Value, Self::Error> {
        Ok(json!({}))
    }
    /// Validation fields for the log, or None without a validation split.
    fn validate(&mut self) -> Result<Option<Value>, Self::Error>;
    /// Saves a checkpoint; returns its folder.
    fn checkpoint(&mut self) -> Result<PathBuf, Self::Error>;
    /// Ranks of a data-parallel run this trainer is one of (1: alone).
    fn world(&self) -> usize {
        1
    }
    /// Whether `flag` holds on any rank (alone: `flag`). Decisions that end the loop (the time
    /// limit) must be the same on every rank, or the ones still stepping wait forever.
    fn any_rank(&mut self, flag: bool) -> Result<bool, Self::Error> {
        Ok(flag)
    }
}

/// What the loop reports; every method has a no-op default.
pub trait Observer {
    /// Before the first step: where the run starts (a resumed run: its checkpoint's step).
    fn started(&mut self, _first_step: u64, _total_steps: u64) {}
    fn stepped(&mut self, _step: u64) {}
    fn logged(&mut self, _record: &Value) {}
    fn checkpointed(&mut self, _dir: &Path) {}
    fn stopped_early(&mut self, _step: u64, _why: &str) {}
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub first_step: u64,
    pub last_step: u64,
    pub last_checkpoint: Option<PathBuf>,
    /// Mean loss of the last logging interval.
    pub final_loss: f64,
    pub seconds: f64,
}

/// Runs `trainee` from its current step to `cadence.steps`, appending records to `log`.
pub fn drive<T: Trainee + ?Sized>(
    cadence: &Cadence,
    trainee: &mut T,
    log: &mut TrainLog,
    observer: &mut dyn Observer,
) -> Result<Finished, T::Error> {
    let started = Instant::now();
    let first_step = trainee.steps();
    observer.started(first_step, cadence.steps);
    let mut pending: Vec<Vec<(&'static str, Tensor)>> = Vec::new();
    let mut interval = (Instant::now(), first_step);
    let mut finished = Finished {
        first_step,
        last_step: first_step,
        last_checkpoint: None,
        final_loss: f64::NAN,
        seconds: 0.0,
    };
    while trainee.steps() < cadence.steps {
        pending.push(trainee.step()?);
        let s = trainee.steps();
        observer.stepped(s);
        let mut out_of_time = cadence
            .time_limit_minutes
            .is_some_and(|m| started.elapsed().as_secs_f64() >= m * 60.0);
        if trainee.world() > 1 && cadence.time_limit_minutes.is_some() {
            // Ranks agree at logging steps only (each agreement waits for the device).
            out_of_time = s % cadence.log_every == 0 && trainee.any_rank(out_of_time)?;
        }
        let last = s >= cadence.steps || out_of_time;
        let do_log = s % cadence.log_every == 0 || last;
        let do_val = s % cadence.val_every == 0 || last;
        let do_ckpt = s % cadence.ckpt_every == 0 || last;
        if do_log || do_val || do_ckpt {
            // Checked before anything is written: a NaN never reaches a checkpoint.
            let means = mean_losses(&pending, s + 1 - pending.len() as u64)?;
            if do_log {
                let secs = interval.0.elapsed().as_secs_f64().max(1e-9);
                let mut record = json!({"step": s, "steps_per_s": (s - interval.1) as f64 / secs});
                for (name, value) in &means {
                    record[*name] = json!(value);
                }
                merge(&mut record, trainee.log_fields()?);
                log.append(&record)?;
                observer.logged(&record);
                finished.final_loss = means.first().map_or(f64::NAN, |m| m.1);
                pending.clear();
                interval = (Instant::now(), s);
            }
            if do_val {
                if let Some(fields) = trainee.validate()? {
                    let mut record = json!({"step": s});
                    merge(&mut record, fields);
                    log.append(&record)?;
                    observer.logged(&record);
                }
            }
            if do_ckpt {
                let dir = trainee.checkpoint()?;
                observer.checkpointed(&dir);
                finished.last_checkpoint = Some(dir);
            }
        }
        if out_of_time && s < cadence.steps {
            observer.stopped_early(s, "time_limit_minutes reached");
            break;
        }
    }
    finished.last_step = trainee.steps();
    finished.seconds = started.elapsed().as_secs_f64();
    Ok(finished)
}

/// The mean of each named loss over the interval, or an error naming the first non-finite
/// step (`first` = the 1-based step of `pending[0]`).
fn mean_losses(
    pending: &[Vec<(&'static str, Tensor)>],
    first: u64,
) -> Result<Vec<(&'static str, f64)>, Error> {
    let Some(names) = pending.first() else {
        return Ok(Vec::new());
    };
    let mut means = Vec::new();
    for (k, (name, _)) in names.iter().enumerate() {
        let column: Vec<Tensor> = pending
            .iter()
            .map(|p| p[k].1.to_kind(Kind::Double))
            .collect();
        let values =
            Vec::<f64>::try_from(Tensor::stack(&column, 0)).map_err(|source| Error::Torch {
                context: format!("reading the {name} values"),
                source,
            })?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "the {} became {} at step {}; training stopped and nothing after the last \
                 checkpoint was saved (resume from it with --resume, perhaps with a lower learning \
                 rate)",
                name.replace('_', " "),
                values[i],
                first + i as u64
            )));
        }
        means.push((*name, values.iter().sum::<f64>() / values.len() as f64));
    }
    Ok(means)
}

fn merge(record: &mut Value, fields: Value) {
    if let (Some(r), Value::Object(f)) = (record.as_object_mut(), fields) {
        r.extend(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps return scripted losses; validation and checkpoints are recorded.
    struct Scripted {
        step: u64,
        losses: Vec<f64>,
        validated: Vec<u64>,
        saved: Vec<u64>,
    }

    impl Trainee for Scripted {
        type Error = Error;
        fn steps(&self) -> u64 {
            self.step
        }
        fn step(&mut self) -> Result<Vec<(&'static str, Tensor)>, Error> {
            let v = self.losses[self.step as usize];
            self.step += 1;
            Ok(vec![
                ("loss", Tensor::from(v)),
                ("aux_loss", Tensor::from(2.0 * v)),
            ])
        }
        fn log_fields(&mut self) -> Result<Value, Error> {
            Ok(json!({"lr": 0.5}))
        }
        fn validate(&mut self) -> Result<Option<Value>, Error> {
            self.validated.push(self.step);
            Ok(Some(json!({"val_loss": 1.0})))
        }
        fn checkpoint(&mut self) -> Result<PathBuf, Error> {
            self.saved.push(self.step);
            Ok(PathBuf::from(format!("ckpt-{}", self.step)))
        }
    }

    fn run(losses: Vec<f64>, steps: u64) -> (Result<Finished, Error>, Scripted, Vec<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut log = TrainLog::open(&path, None).unwrap();
        let mut t = Scripted {
            step: 0,
            losses,
            validated: vec![],
            saved: vec![],
        };
        let cadence = Cadence {
            steps,
            log_every: 2,
            val_every: 3,
            ckpt_every: 4,
            time_limit_minutes: None,
        };
        struct Quiet;
        impl Observer for Quiet {}
        let out = drive(&cadence, &mut t, &mut log, &mut Quiet);
        let records = crate::read_records(&path).unwrap();
        (out, t, records)
    }

    #[test]
    fn logs_means_validates_and_checkpoints_on_their_cadence() {
        let (out, t, records) = run(vec![1.0, 3.0, 5.0, 7.0, 9.0], 5);
        let out = out.unwrap();
        assert_eq!((out.first_step, out.last_step), (0, 5));
        assert_eq!(t.validated, vec![3, 5]);
        assert_eq!(t.saved, vec![4, 5]);
        let logged: Vec<(u64, f64, f64)> = records
            .iter()
            .filter_map(|r| {
                Some((
                    r["step"].as_u64()?,
                    r.get("loss")?.as_f64()?,
                    r["aux_loss"].as_f64()?,
                ))
            })
            .collect();
        assert_eq!(logged, vec![(2, 2.0, 4.0), (4, 6.0, 12.0), (5, 9.0, 18.0)]);
        assert!(records
            .iter()
            .all(|r| r.get("loss").is_none() || r["lr"] == 0.5));
        assert_eq!(out.final_loss, 9.0);
        assert_eq!(out.last_checkpoint, Some(PathBuf::from("ckpt-5")));
    }

    /// One rank of two whose peer runs out of time: it stops at the next logging step with the
    /// peer, though its own clock has time left.
    struct Rank {
        inner: Scripted,
        asked: Vec<(u64, bool)>,
    }

    impl Trainee for Rank {
        type Error = Error;
        fn steps(&self) -> u64 {
            self.inner.steps()
        }
        fn step(&mut self) -> Result<Vec<(&'static str, Tensor)>, Error> {
            self.inner.step()
        }
        fn validate(&mut self) -> Result<Option<Value>, Error> {
            Ok(None)
        }
        fn checkpoint(&mut self) -> Result<PathBuf, Error> {
            self.inner.checkpoint()
        }
        fn world(&self) -> usize {
            2
        }
        fn any_rank(&mut self, flag: bool) -> Result<bool, Error> {
            self.asked.push((self.inner.step, flag));
            // The peer's clock ran out at step 4.
            Ok(flag || self.inner.step >= 4)
        }
    }

    #[test]
    fn ranks_stop_for_the_time_limit_together_at_a_logging_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TrainLog::open(&dir.path().join("log.jsonl"), None).unwrap();
        let mut rank = Rank {
            inner: Scripted {
                step: 0,
                losses: vec![1.0; 10],
                validated: vec![],
                saved: vec![],
            },
            asked: vec![],
        };
        let cadence = Cadence {
            steps: 10,
            log_every: 2,
            val_every: 100,
            ckpt_every: 100,
            time_limit_minutes: Some(60.0),
        };
        struct Quiet;
        impl Observer for Quiet {}
        let out = drive(&cadence, &mut rank, &mut log, &mut Quiet).unwrap();
        assert_eq!(out.last_step, 4);
        assert_eq!(rank.asked, vec![(2, false), (4, false)]);
        assert_eq!(rank.inner.saved, vec![4], "a checkpoint at the agreed stop");
    }

    #[test]
    fn a_nan_stops_before_the_next_checkpoint_naming_its_step() {
        let (out, t, _) = run(vec![1.0, 1.0, 1.0, f64::NAN, 1.0, 1.0], 6);
        let e = out.unwrap_err().to_string();
        assert!(e.contains("loss became NaN at step 4"), "{e}");
        assert!(
            t.saved.is_empty(),
            "nothing saved after the NaN: {:?}",
            t.saved
        );
    }
}
