//! `keta decompose`: one caption, or every caption of a data folder (cached as JSONL, and scored
//! against the synthetic data's ground-truth segments where `texts/<id>.json` exists).

use std::path::Path;

use anyhow::{bail, Context};
use llm_decompose::{normalise_caption, Decomposer, Rules};
use serde_json::json;

use crate::cli::DecomposeArgs;
use crate::progress;

/// Longest caption accepted, in characters.
const MAX_CAPTION_CHARS: usize = 1000;

fn check_caption(caption: &str) -> anyhow::Result<()> {
    if caption.trim().is_empty() {
        bail!("the caption is empty; give a description such as \"a man walks, then jumps\"");
    }
    let n = caption.chars().count();
    if n > MAX_CAPTION_CHARS {
        bail!("the caption has {n} characters; at most {MAX_CAPTION_CHARS} are accepted");
    }
    Ok(())
}

pub fn run(args: DecomposeArgs) -> anyhow::Result<()> {
    let backend = Rules;
    if let Some(dir) = &args.data {
        return decompose_folder(&backend, dir, args.json);
    }
    let caption = args.caption.expect("clap requires a caption or --data");
    check_caption(&caption)?;
    let sentences = backend.decompose(&caption)?;
    if args.json {
        let out = json!({"caption": caption, "backend": backend.backend(), "model": null, "sentences": sentences, "fallback": null});
        println!("{out}");
    } else {
        for s in &sentences {
            println!("{s}");
        }
    }
    Ok(())
}

/// Every caption line of every text file, the decompositions written to
/// `decompositions/<backend>-none.jsonl`, and the accuracy against ground truth where it exists.
fn decompose_folder(backend: &dyn Decomposer, dir: &Path, json_out: bool) -> anyhow::Result<()> {
    let texts = dir.join("texts");
    let mut files: Vec<_> = std::fs::read_dir(&texts)
        .with_context(|| format!("{}: cannot list caption files", texts.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let bar = progress::bar(files.len() as u64, "decomposing");
    let (mut lines, mut scored, mut count_ok, mut text_ok) = (Vec::new(), 0usize, 0usize, 0usize);
    for file in &files {
        bar.inc(1);
        let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", file.display()))?;
        let truth: Option<serde_json::Value> = std::fs::read_to_string(file.with_extension("json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        for (k, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let caption = line.split('#').next().unwrap_or("").trim();
            if caption.is_empty() {
                continue;
            }
            let sentences = backend
                .decompose(caption)
                .with_context(|| format!("{}:{}", file.display(), k + 1))?;
            if let Some(segments) = truth
                .as_ref()
                .and_then(|t| t["captions"][k]["segments"].as_array())
            {
                let want: Vec<String> = segments
                    .iter()
                    .filter_map(|s| s["text"].as_str())
                    .map(normalise_caption)
                    .collect();
                let got: Vec<String> = sentences.iter().map(|s| normalise_caption(s)).collect();
                scored += 1;
                count_ok += usize::from(want.len() == got.len());
                text_ok += usize::from(want == got);
            }
            lines.push(
                json!({"caption": normalise_caption(caption), "sentences": sentences}).to_string(),
            );
        }
    }
    bar.finish_and_clear();
    let out_dir = dir.join("decompositions");
    std::fs::create_dir_all(&out_dir).with_context(|| out_dir.display().to_string())?;
    let path = out_dir.join(format!("{}-none.jsonl", backend.backend()));
    train::write_atomic(&path, (lines.join("\n") + "\n").as_bytes())?;
    let pct = |n: usize| {
        if scored == 0 {
            0.0
        } else {
            100.0 * n as f64 / scored as f64
        }
    };
    if json_out {
        println!(
            "{}",
            json!({"captions": lines.len(), "file": path.display().to_string(), "scored": scored, "count_accuracy": pct(count_ok) / 100.0, "text_accuracy": pct(text_ok) / 100.0})
        );
    } else {
        eprintln!(
            "decomposed {} captions into {}",
            lines.len(),
            path.display()
        );
        if scored > 0 {
            println!("against the ground-truth segments of {scored} captions: sentence count right {:.1}%, every sentence right {:.1}%", pct(count_ok), pct(text_ok));
        }
    }
    Ok(())
}
