//! The one progress-bar factory (indicatif on stderr, hidden when stderr is not a terminal) and
//! the training runs' observer built on it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A training run on the terminal: the bar follows the steps and shows the last loss; where stderr
/// is not a terminal (CI, the GPU machine) every log record is printed as a line instead.
pub struct TrainProgress {
    pub bar: ProgressBar,
    what: String,
    plain: bool,
}

impl TrainProgress {
    pub fn new(steps: u64, what: &str) -> Self {
        Self {
            bar: bar(steps, what),
            what: what.to_string(),
            plain: !std::io::stderr().is_terminal(),
        }
    }
}

impl train::Observer for TrainProgress {
    fn started(&mut self, first_step: u64, _total_steps: u64) {
        self.bar.set_position(first_step);
        if first_step > 0 {
            eprintln!("keta: resuming at step {first_step}");
        }
    }

    fn stepped(&mut self, step: u64) {
        self.bar.set_position(step);
    }

    fn logged(&mut self, record: &serde_json::Value) {
        if let Some(loss) = record["loss"].as_f64() {
            self.bar
                .set_message(format!("{}, loss {loss:.4}", self.what));
        }
        if self.plain {
            eprintln!("keta: {record}");
        }
    }

    fn checkpointed(&mut self, dir: &std::path::Path) {
        let line = format!("keta: checkpoint {}", dir.display());
        if self.plain {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn stopped_early(&mut self, step: u64, why: &str) {
        eprintln!("keta: stopped at step {step}: {why} (continue with --resume)");
    }
}
