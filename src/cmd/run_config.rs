//! The run configuration of `keta train aligner|evaluator`: `--config FILE`, else the one stored
//! in `OUT/run_config.json` on `--resume`, else the defaults; `--steps` overrides. A new run stores
//! it; a resumed run may change `steps` and nothing else.

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;

use motion::data::dataset::{Dataset, LoadOptions};
use motion::training::BatchStream;

use crate::cli::TrainArgs;

/// A trainer's JSON configuration.
pub trait RunConfig: Serialize + DeserializeOwned + Default + Clone + PartialEq {
    /// Its name in messages ("aligner", "evaluator").
    const WHAT: &'static str;
    fn steps_mut(&mut self) -> &mut u64;
    fn check(&self) -> anyhow::Result<()>;
}

impl RunConfig for aligner::AlignerRunConfig {
    const WHAT: &'static str = "aligner";
    fn steps_mut(&mut self) -> &mut u64 {
        &mut self.steps
    }
    fn check(&self) -> anyhow::Result<()> {
        Ok(self.validate()?)
    }
}

impl RunConfig for eval::training::EvaluatorRunConfig {
    const WHAT: &'static str = "evaluator";
    fn steps_mut(&mut self) -> &mut u64 {
        &mut self.steps
    }
    fn check(&self) -> anyhow::Result<()> {
        Ok(self.validate()?)
    }
}

const FILE: &str = "run_config.json";

/// The configuration of this run (see the module header).
pub fn load<C: RunConfig>(args: &TrainArgs) -> anyhow::Result<C> {
    let mut cfg: C = match (&args.config, args.resume) {
        (Some(file), _) => serde_json::from_str(
            &std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot read the config", file.display()))?,
        )
        .with_context(|| format!("{}: not an {} config", file.display(), C::WHAT))?,
        (None, true) => {
            let path = args.out.join(FILE);
            train::read_json(&path)
                .with_context(|| format!("--resume: cannot read {}", path.display()))?
        }
        (None, false) => C::default(),
    };
    if let Some(steps) = args.steps {
        *cfg.steps_mut() = steps;
    }
    cfg.check()?;
    Ok(cfg)
}

/// Stores `cfg` in `OUT/run_config.json` for a new run (a resume without `--steps` continues to
/// its step count); on `--resume`, refuses a config that differs from the stored one in anything
/// but `steps`.
pub fn record<C: RunConfig>(args: &TrainArgs, cfg: &C) -> anyhow::Result<()> {
    let without_steps = |c: &C| {
        let mut c = c.clone();
        *c.steps_mut() = 0;
        c
    };
    let path = args.out.join(FILE);
    if args.resume {
        let was: C = train::read_json(&path)?;
        if without_steps(&was) != without_steps(cfg) {
            bail!(
                "--resume with a different --config than {} (steps may change, nothing else)",
                path.display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)?;
    train::save_json(&path, cfg)?;
    Ok(())
}

/// The checkpoint to resume from: `--resume` needs one, a new run refuses a folder that has one.
pub fn resume_point(args: &TrainArgs) -> anyhow::Result<Option<std::path::PathBuf>> {
    match (args.resume, train::latest_checkpoint(&args.out)?) {
        (true, Some(ckpt)) => Ok(Some(ckpt)),
        (true, None) => bail!(
            "--resume: {} has no `latest` checkpoint",
            args.out.display()
        ),
        (false, Some(_)) => bail!(
            "{} already holds a training run: pass --resume to continue it, or choose a new --out",
            args.out.display()
        ),
        (false, None) => Ok(None),
    }
}

/// Longest clip read from a data set, in rows (HumanML3D's loader keeps 40..200).
const MAX_CLIP_ROWS: usize = 200;

/// The train split of `data` and, when there is one with at least `min_val` samples, the val
/// split, with clips of `min_rows` rows up (crops are at most `max_rows`).
pub fn load_splits(
    data: &std::path::Path,
    min_rows: usize,
    max_rows: usize,
    min_val: usize,
) -> anyhow::Result<(Dataset, Option<Dataset>)> {
    let load = LoadOptions {
        min_rows,
        max_rows: MAX_CLIP_ROWS.max(max_rows + 1),
    };
    let train = Dataset::load(data, "train", &load, |_, _| {})?;
    let val = Some(Dataset::load(data, "val", &load, |_, _| {}))
        .filter(|_| data.join("val.txt").is_file())
        .transpose()?
        .filter(|d| d.samples.len() >= min_val.max(1));
    Ok((train, val))
}

/// Runs `run` to `cadence.steps` with the shared loop: refuses a run already at its step count,
/// opens (or, on resume, cuts) `OUT/train_log.jsonl`, and draws the progress bar.
pub fn drive<T: train::Trainee<Error = anyhow::Error>>(
    args: &TrainArgs,
    cadence: &train::Cadence,
    run: &mut T,
    what: &str,
) -> anyhow::Result<train::Finished> {
    if run.steps() >= cadence.steps {
        bail!(
            "{} is at step {}; --steps {} leaves nothing to train",
            args.out.display(),
            run.steps(),
            cadence.steps
        );
    }
    let mut log = train::TrainLog::open(
        &args.out.join("train_log.jsonl"),
        args.resume.then_some(run.steps()),
    )?;
    let mut observer = crate::progress::TrainProgress::new(cadence.steps, what);
    let done = train::drive(cadence, run, &mut log, &mut observer);
    observer.bar.finish_and_clear();
    done
}

/// What a checkpoint's `train_state.json` records of a run: its step, seed and batch position.
pub fn stream_state(steps: u64, seed: u64, batches: &BatchStream) -> serde_json::Value {
    serde_json::json!({
        "step": steps, "seed": seed, "epoch": batches.epoch, "position": batches.position,
    })
}

/// The batch stream of `data` positioned where `state` ([`stream_state`]) left it.
pub fn resumed_stream<'a>(
    data: &'a Dataset,
    opts: motion::data::batch::BatchOptions,
    state: &serde_json::Value,
) -> anyhow::Result<BatchStream<'a>> {
    let at = |k: &str| {
        state[k]
            .as_u64()
            .with_context(|| format!("train_state.json: {k}"))
    };
    Ok(BatchStream::new(data, opts, at("epoch")?, at("position")?)?)
}
