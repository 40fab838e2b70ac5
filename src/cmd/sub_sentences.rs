//! Sentence embeddings made once before training: captions (`keta train mdm`) and the rules
//! sub-sentences of captions (`keta train aligner`, `keta train mdm --lambda-kp`).

use std::collections::{HashMap, HashSet};

use motion::data::dataset::Dataset;
use motion::training::{CaptionTable, SubSentences};
use tch::{Device, Tensor};
use text::SentenceEncoder;

use crate::progress;

/// Every caption of `sets` split by the rules into at most `max` sub-sentences (a longer split
/// merges its tail into the last one), each embedded by the sentence encoder.
pub fn build(sets: &[&Dataset], max: usize, device: Device) -> anyhow::Result<SubSentences> {
    build_with(sets, max, Vec::new(), device)
}

/// Like [`build`], with `extra` sentences embedded too (e.g. ground-truth segment texts).
pub fn build_with(
    sets: &[&Dataset],
    max: usize,
    extra: Vec<String>,
    device: Device,
) -> anyhow::Result<SubSentences> {
    let captions = CaptionTable::captions_of(sets);
    let mut split = HashMap::new();
    let mut seen: HashSet<String> = extra.iter().cloned().collect();
    let mut unique: Vec<String> = seen.iter().cloned().collect();
    unique.sort();
    for caption in captions {
        let mut parts = llm_decompose::rules::decompose(&caption);
        if parts.len() > max {
            let tail = parts.split_off(max - 1).join(", then ");
            parts.push(tail);
        }
        for p in &parts {
            if seen.insert(p.clone()) {
                unique.push(p.clone());
            }
        }
        split.insert(caption, parts);
    }
    eprintln!(
        "keta: {} captions split into {} distinct sub-sentences (rules)",
        split.len(),
        unique.len()
    );
    let table = embed_all(unique, device, "embedding sub-sentences")?;
    Ok(SubSentences::new(split, table)?)
}

/// Every sentence through the sentence encoder once (batches of 256, with a progress bar).
pub fn embed_all(
    sentences: Vec<String>,
    device: Device,
    what: &str,
) -> anyhow::Result<CaptionTable> {
    let encoder = SentenceEncoder::load_default(device)?;
    let bar = progress::bar(sentences.len() as u64, what);
    let mut rows = Vec::new();
    for chunk in sentences.chunks(256) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rows.push(tch::no_grad(|| encoder.encode(&refs))?.vectors);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(CaptionTable::new(sentences, Tensor::cat(&rows, 0))?)
}
