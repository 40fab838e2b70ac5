//! `keta decompose`: one caption, or every caption of a data folder, cached as JSONL (resumable, keyed
//! by backend, model, endpoint, prompt version and caption) and scored against the synthetic data's
//! ground-truth segments where `texts/<id>.json` exists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use llm_decompose::{
    normalise_caption, LlmClient, LlmConfig, Outcome, WithFallback, PROMPT_VERSION,
};
use serde_json::{json, Value};

use crate::cli::{BackendArg, DecomposeArgs};
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

/// The chosen backend: rules, or the LLM client with the rules as fallback.
pub(crate) enum Backend {
    Rules,
    Llm(WithFallback),
}

impl Backend {
    fn from_args(args: &DecomposeArgs) -> anyhow::Result<Self> {
        Self::new(
            args.backend,
            args.llm_endpoint.clone(),
            args.llm_model.clone(),
        )
    }

    /// Rules, or the LLM client (flags first, then KETA_LLM_* variables) with rules as fallback.
    pub(crate) fn new(
        backend: BackendArg,
        endpoint: Option<String>,
        model: Option<String>,
    ) -> anyhow::Result<Self> {
        match backend {
            BackendArg::Rules => Ok(Backend::Rules),
            BackendArg::Llm => {
                let env = LlmConfig::from_env();
                let endpoint = endpoint.or_else(|| env.as_ref().map(|c| c.endpoint.clone()));
                let Some(endpoint) = endpoint else {
                    bail!("--backend llm needs --llm-endpoint URL or KETA_LLM_ENDPOINT (an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1)");
                };
                let model = model
                    .or_else(|| env.as_ref().map(|c| c.model.clone()))
                    .unwrap_or_else(|| "default".into());
                let mut cfg = LlmConfig::new(endpoint, model);
                cfg.api_key = env.and_then(|c| c.api_key);
                Ok(Backend::Llm(WithFallback {
                    client: LlmClient::new(cfg)?,
                }))
            }
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Rules => "rules",
            Backend::Llm(_) => "llm",
        }
    }

    pub(crate) fn model(&self) -> Option<&str> {
        match self {
            Backend::Rules => None,
            Backend::Llm(b) => Some(&b.client.config().model),
        }
    }

    fn cache_key(&self, caption: &str) -> String {
        match self {
            Backend::Rules => format!("rules|{}", normalise_caption(caption)),
            Backend::Llm(b) => {
                let c = b.client.config();
                format!(
                    "llm|{}|{}|v{PROMPT_VERSION}|{}",
                    c.model,
                    c.endpoint,
                    normalise_caption(caption)
                )
            }
        }
    }

    pub(crate) fn decompose_many(
        &self,
        captions: &[String],
        workers: usize,
        progress: impl FnMut(usize),
    ) -> Vec<Outcome> {
        match self {
            Backend::Rules => captions
                .iter()
                .map(|c| Outcome {
                    sentences: llm_decompose::rules::decompose(c),
                    fallback: None,
                })
                .collect(),
            Backend::Llm(b) => b.decompose_many(captions, workers, progress),
        }
    }
}

pub fn run(args: DecomposeArgs) -> anyhow::Result<()> {
    let backend = Backend::from_args(&args)?;
    if let Some(dir) = &args.data {
        return decompose_folder(&backend, dir, args.llm_workers, args.json);
    }
    let caption = args
        .caption
        .clone()
        .expect("clap requires a caption or --data");
    check_caption(&caption)?;
    let outcome = backend
        .decompose_many(std::slice::from_ref(&caption), 1, |_| {})
        .remove(0);
    if let Some(why) = &outcome.fallback {
        eprintln!("keta: warning: the LLM answer was not used ({why}); the rules answered instead");
    }
    if args.json {
        let out = json!({"caption": caption, "backend": backend.name(), "model": backend.model(), "sentences": outcome.sentences, "fallback": outcome.fallback});
        println!("{out}");
    } else {
        for s in &outcome.sentences {
            println!("{s}");
        }
    }
    Ok(())
}

/// Cached entries by key; a corrupt cache file is rebuilt (with a warning), never fatal.
fn read_cache(path: &Path) -> HashMap<String, Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v["key"].is_string() && v["sentences"].is_array() => {
                out.insert(v["key"].as_str().expect("checked").to_string(), v);
            }
            _ => bad += 1,
        }
    }
    if bad > 0 {
        eprintln!("keta: warning: {}: {bad} unreadable line(s) dropped; those captions are decomposed again", path.display());
    }
    out
}

fn write_cache(path: &Path, cache: &HashMap<String, Value>) -> anyhow::Result<()> {
    let mut lines: Vec<String> = cache.values().map(Value::to_string).collect();
    lines.sort();
    Ok(train::write_atomic(
        path,
        (lines.join("\n") + "\n").as_bytes(),
    )?)
}

/// Every caption line of every text file -> `decompositions/<backend>-<model>.jsonl`, saved after
/// every 64 new captions so an interrupted run resumes; then the accuracy against ground truth.
fn decompose_folder(
    backend: &Backend,
    dir: &Path,
    workers: usize,
    json_out: bool,
) -> anyhow::Result<()> {
    let texts = dir.join("texts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&texts)
        .with_context(|| format!("{}: cannot list caption files", texts.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    // (caption, ground-truth sentences if any)
    let mut items: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", file.display()))?;
        let truth: Option<Value> = std::fs::read_to_string(file.with_extension("json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        for (k, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let caption = line.split('#').next().unwrap_or("").trim().to_string();
            if caption.is_empty() || caption.chars().count() > MAX_CAPTION_CHARS {
                eprintln!("keta: warning: {}:{}: caption empty or over {MAX_CAPTION_CHARS} characters; skipped", file.display(), k + 1);
                continue;
            }
            let want = truth
                .as_ref()
                .and_then(|t| t["captions"][k]["segments"].as_array())
                .map(|segs| {
                    segs.iter()
                        .filter_map(|s| s["text"].as_str())
                        .map(normalise_caption)
                        .collect()
                });
            items.push((caption, want));
        }
    }
    let out_dir = dir.join("decompositions");
    std::fs::create_dir_all(&out_dir).with_context(|| out_dir.display().to_string())?;
    let path = out_dir.join(format!(
        "{}-{}.jsonl",
        backend.name(),
        backend.model().unwrap_or("none").replace(['/', ' '], "_")
    ));
    let mut cache = read_cache(&path);
    let mut todo: Vec<String> = items
        .iter()
        .map(|(c, _)| c.clone())
        .filter(|c| !cache.contains_key(&backend.cache_key(c)))
        .collect();
    todo.sort();
    todo.dedup();
    let bar = progress::bar(todo.len() as u64, "decomposing");
    let mut fallbacks = 0;
    for chunk in todo.chunks(64) {
        let outcomes = backend.decompose_many(chunk, workers, |_| {});
        for (caption, o) in chunk.iter().zip(outcomes) {
            fallbacks += usize::from(o.fallback.is_some());
            let key = backend.cache_key(caption);
            cache.insert(key.clone(), json!({"key": key, "caption": normalise_caption(caption), "sentences": o.sentences, "fallback": o.fallback}));
        }
        write_cache(&path, &cache)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if todo.is_empty() {
        write_cache(&path, &cache)?;
    }
    let (mut scored, mut count_ok, mut text_ok) = (0usize, 0usize, 0usize);
    for (caption, want) in &items {
        if let (Some(want), Some(entry)) = (want, cache.get(&backend.cache_key(caption))) {
            let got: Vec<String> = entry["sentences"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(normalise_caption)
                        .collect()
                })
                .unwrap_or_default();
            scored += 1;
            count_ok += usize::from(want.len() == got.len());
            text_ok += usize::from(*want == got);
        }
    }
    let rate = |n: usize| {
        if scored == 0 {
            0.0
        } else {
            n as f64 / scored as f64
        }
    };
    if json_out {
        println!(
            "{}",
            json!({"captions": items.len(), "new": todo.len(), "fallbacks": fallbacks, "file": path.display().to_string(), "scored": scored, "count_accuracy": rate(count_ok), "text_accuracy": rate(text_ok)})
        );
    } else {
        eprintln!(
            "decomposed {} captions ({} new, {fallbacks} by the rules fallback) into {}",
            items.len(),
            todo.len(),
            path.display()
        );
        if scored > 0 {
            println!("against the ground-truth segments of {scored} captions: sentence count right {:.1}%, every sentence right {:.1}%", 100.0 * rate(count_ok), 100.0 * rate(text_ok));
        }
    }
    Ok(())
}
