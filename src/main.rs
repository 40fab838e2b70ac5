//! `keta`: text to 3D human motion. `main` runs the command and turns any error into one line on
//! stderr and exit code 1; clap's usage errors exit with 2.

mod cli;
mod cmd;
mod paths;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keta: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
