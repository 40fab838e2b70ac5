//! `keta generate`. The diffusion model and the default weights land with their own issue; until
//! then this command validates its input and says plainly that there is no model to run.

use anyhow::bail;

use crate::cli::GenerateArgs;
use crate::paths;

/// Longest prompt accepted, in characters (the sentence encoder truncates at 256 tokens anyway).
const MAX_TEXT_CHARS: usize = 1000;

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let prompts = match (&args.text, &args.input) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: cannot read prompts: {e}", file.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        (None, None) => unreachable!("clap requires --text or --input"),
    };
    if prompts.is_empty() {
        bail!("no prompt given: --text is empty or --input has no non-blank line");
    }
    for p in &prompts {
        if p.trim().is_empty() {
            bail!("--text is empty; describe the motion, e.g. --text \"a person walks forward\"");
        }
        if p.chars().count() > MAX_TEXT_CHARS {
            bail!(
                "prompt of {} characters is longer than {MAX_TEXT_CHARS}; shorten it",
                p.chars().count()
            );
        }
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!(
            "--seconds {} must be a positive number of seconds",
            args.seconds
        );
    }
    let model = args.model.clone().unwrap_or_else(paths::default_model);
    if !model.join("weights.safetensors").is_file() {
        // The first stage of the pipeline is real already: show what the text decomposes into.
        for p in &prompts {
            eprintln!("keta: {p:?} decomposes (rules) into:");
            for s in llm_decompose::rules::decompose(p) {
                eprintln!("  - {s}");
            }
        }
        bail!(
            "no trained model at {}: keta does not ship a text-to-motion model yet, so no motion was generated. \
             What works today: data synth/import/check, render, features, kp, decompose, bench (see the README)",
            model.display()
        );
    }
    bail!(
        "{}: loading diffusion models is not implemented yet; nothing was generated",
        model.display()
    )
}
