use anyhow::bail;

use crate::cli::DataCommand;
use crate::progress;

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
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
