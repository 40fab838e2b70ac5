use anyhow::Context;
use kp::describe::{timeline, ExplainConfig};
use motion::npy::{read_tensor, write_tensor};

use crate::cli::{KpCommand, KpModeArg};

pub fn run(cmd: KpCommand) -> anyhow::Result<()> {
    match cmd {
        KpCommand::Extract { joints, out, mode } => {
            let j = read_tensor(&joints)?;
            let mode = match mode {
                KpModeArg::Sign => kp::Mode::Sign,
                KpModeArg::Soft => kp::Mode::Soft,
            };
            let values = kp::extract(&j, None, mode, &kp::SoftScales::default())
                .with_context(|| joints.display().to_string())?;
            write_tensor(&out, &values)?;
            eprintln!(
                "wrote {:?} kinematic phrases to {}",
                values.size(),
                out.display()
            );
            Ok(())
        }
        KpCommand::Explain { joints, plot } => {
            let j = read_tensor(&joints)?;
            if j.dim() != 3 {
                anyhow::bail!(
                    "{}: expected one motion of shape [T, 22, 3], got {:?}",
                    joints.display(),
                    j.size()
                );
            }
            let raw = kp::raw(&j, None).with_context(|| joints.display().to_string())?;
            let cfg = ExplainConfig::default();
            let events = timeline(&raw, &cfg)?;
            let frames = raw.size()[0];
            println!(
                "{}: {frames} frames ({:.2} s at {} fps), {} phrase events",
                joints.display(),
                frames as f64 / cfg.fps,
                cfg.fps,
                events.len()
            );
            for e in &events {
                println!("{}", e.line(cfg.fps));
            }
            if let Some(path) = plot {
                let title = format!(
                    "sign KP of {}",
                    joints.file_name().unwrap_or_default().to_string_lossy()
                );
                kp::plot::heatmap_png(&kp::sign(&raw), cfg.fps, &title, &path)?;
                eprintln!("wrote the heat map to {}", path.display());
            }
            Ok(())
        }
        KpCommand::Prompts { out } => {
            let set = kp::accuracy::prompt_set();
            let json = serde_json::to_string_pretty(&set)? + "\n";
            train::write_atomic(&out, json.as_bytes())?;
            eprintln!(
                "wrote {} prompts (version {}) to {}",
                set.prompts.len(),
                set.version,
                out.display()
            );
            Ok(())
        }
    }
}
