//! `keta model pack`: a checkpoint -> a small model folder to ship or share.

use crate::cli::{DtypeArg, ModelCommand};

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Pack { from, out, dtype } => {
            let kind = match dtype {
                DtypeArg::F16 => tch::Kind::Half,
                DtypeArg::F32 => tch::Kind::Float,
            };
            let params = motion::checkpoint::pack(&from, &out, kind)?;
            let bytes = std::fs::metadata(out.join("weights.safetensors"))?.len();
            eprintln!(
                "keta: packed {} ({:.2} M parameters, weights {:.1} MiB, {dtype:?}) into {}",
                from.display(),
                params as f64 / 1e6,
                bytes as f64 / (1024.0 * 1024.0),
                out.display()
            );
            Ok(())
        }
    }
}
