use anyhow::bail;

use crate::cli::DataCommand;
use crate::progress;

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Synth { out, count, seed } => {
            let start = std::time::Instant::now();
            let bar = progress::bar(count as u64, "synthesising");
            let report = motion::synth::synthesize(
                &out,
                &motion::synth::SynthOptions {
                    count,
                    seed,
                    tagger: Some(eval::pos::humanml3d_tokens),
                },
                |done, _| bar.set_position(done as u64),
            )?;
            bar.finish_and_clear();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "wrote {} clips ({} frames, {:.1} min of motion, {} captions; train/val/test {}/{}/{}) to {} in {secs:.1} s ({:.0} clips/min)",
                report.clips,
                report.frames,
                report.frames as f64 / motion::synth::FPS / 60.0,
                report.captions,
                report.splits[0],
                report.splits[1],
                report.splits[2],
                out.display(),
                report.clips as f64 / secs * 60.0
            );
            Ok(())
        }
        DataCommand::Import { paths, out } => {
            let files = motion::import::motion_files(&paths)?;
            let bar = progress::bar(files.len() as u64, "importing");
            let splits =
                motion::import::import(&files, &out, |done, _| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            eprintln!(
                "imported {} clips (train/val/test {}/{}/{}) to {}; clips outside 40..200 rows are kept but skipped by the training loader",
                files.len(),
                splits[0],
                splits[1],
                splits[2],
                out.display()
            );
            Ok(())
        }
        DataCommand::Check { dir } => {
            if !dir.is_dir() {
                bail!(
                    "{}: not a folder (expected a HumanML3D-layout data folder)",
                    dir.display()
                );
            }
            let bar = progress::bar(0, "checking");
            let report = motion::data::check(&dir, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            print!("{report}");
            if !report.is_clean() {
                bail!("{} problem(s) in {}", report.problems.len(), dir.display());
            }
            Ok(())
        }
    }
}
