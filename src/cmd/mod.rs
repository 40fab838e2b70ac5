//! One file per command: arguments -> validated values -> library calls -> outputs.

mod data;
mod features;
mod generate;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Features(cmd) => features::run(cmd),
        Command::Data(cmd) => data::run(cmd),
    }
}
