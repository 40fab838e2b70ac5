//! The evaluator folder, which `keta train evaluator` writes and `scripts/convert_evaluator.py`
//! writes from the official checkpoint:
//! ```text
//! evaluator.json       card: format_version, origin, config (EvaluatorConfig), vocab, vocab_rows
//! weights.safetensors  movement_encoder.*, motion_encoder.*, text_encoder.* (PyTorch key names)
//! mean.npy, std.npy    the evaluator's own feature Mean/Std [F] float32 (the protocol
//!                      re-normalises generated motions with these)
//! vocab/               words.txt + vectors.npy, when the card's vocab is {"folder": "vocab"};
//!                      {"assets": "glove-6b-50d"} names a folder under the assets directory
//! ```
//! Loading is strict: missing or unexpected weight keys and shape mismatches are named.
//! Every file is written to a temporary name and renamed, the card last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array1;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::error::{file_err, Error, Result};
use crate::evaluator::{Evaluator, EvaluatorConfig};
use crate::glove::{assets_dir, WordVectors};

/// Version of the folder format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
pub const CARD_FILE: &str = "evaluator.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// Where an evaluator's word vectors are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VocabSource {
    /// A folder under the assets directory (`KETA_ASSETS` or `<repo>/.assets`).
    Assets(String),
    /// A folder relative to the evaluator folder (or absolute).
    Folder(PathBuf),
}

impl VocabSource {
    /// The 50-d GloVe that `scripts/setup.sh` installs.
    pub fn glove_50d() -> Self {
        VocabSource::Assets(crate::glove::GLOVE_50D.to_string())
    }

    pub fn dir(&self, evaluator_dir: &Path) -> PathBuf {
        match self {
            VocabSource::Assets(name) => assets_dir().join(name),
            VocabSource::Folder(p) => evaluator_dir.join(p),
        }
    }
}

/// The evaluator's feature normalisation: per-feature mean and std `[F]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl FeatureStats {
    /// Reads `mean.npy` and `std.npy` (1-d float32) from two paths.
    pub fn load(mean: &Path, std: &Path) -> Result<Self> {
        let read = |p: &Path| -> Result<Vec<f32>> {
            let f = std::fs::File::open(p).map_err(|e| file_err(p, e))?;
            Array1::<f32>::read_npy(std::io::BufReader::new(f))
                .map(|a| a.to_vec())
                .map_err(|e| file_err(p, format!("not a 1-d float32 .npy: {e}")))
        };
        Ok(FeatureStats {
            mean: read(mean)?,
            std: read(std)?,
        })
    }

    /// Lengths equal to `feature_dim`, finite values, std > 0.
    pub fn check(&self, feature_dim: usize) -> Result<()> {
        if self.mean.len() != feature_dim || self.std.len() != feature_dim {
            return Err(Error::Invalid(format!(
                "feature Mean/Std have {} and {} values but the evaluator reads {feature_dim} features a frame",
                self.mean.len(),
                self.std.len()
            )));
        }
        if let Some(i) = (0..feature_dim)
            .find(|&i| !(self.mean[i].is_finite() && self.std[i].is_finite() && self.std[i] > 0.0))
        {
            return Err(Error::Invalid(format!(
                "feature {i}: mean {} std {}; Mean must be finite and Std finite and > 0",
                self.mean[i], self.std[i]
            )));
        }
        Ok(())
    }
}

/// `evaluator.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorCard {
    pub format_version: u32,
    /// "keta" for an evaluator trained here, "humanml3d" for converted official weights.
    pub origin: String,
    pub config: EvaluatorConfig,
    pub vocab: VocabSource,
    /// Words in the vocabulary, checked at load.
    pub vocab_rows: usize,
}

/// Runs `write` on a temporary name beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

fn write_npy(path: &Path, values: &[f32]) -> Result<()> {
    write_atomic(path, |tmp| {
        let f = std::fs::File::create(tmp).map_err(|e| file_err(tmp, e))?;
        Array1::from(values.to_vec())
            .write_npy(std::io::BufWriter::new(f))
            .map_err(|e| file_err(tmp, e))
    })
}

pub(crate) fn save_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    write_atomic(path, |tmp| {
        Tensor::write_safetensors(named, tmp).map_err(|e| file_err(tmp, e))
    })
}

/// Copies `file` tensors into `vars` (keeping the variables' dtype and device), or names every
/// missing key, unexpected key and shape mismatch.
pub(crate) fn load_strict(
    path: &Path,
    vars: &BTreeMap<String, Tensor>,
    file: Vec<(String, Tensor)>,
) -> Result<()> {
    let file: BTreeMap<String, Tensor> = file.into_iter().collect();
    let list = |v: Vec<String>| {
        let more = if v.len() > 4 {
            format!(" and {} more", v.len() - 4)
        } else {
            String::new()
        };
        format!(
            "{}{more}",
            v.into_iter().take(4).collect::<Vec<_>>().join(", ")
        )
    };
    let missing: Vec<String> = vars
        .keys()
        .filter(|k| !file.contains_key(*k))
        .cloned()
        .collect();
    let unexpected: Vec<String> = file
        .keys()
        .filter(|k| !vars.contains_key(*k))
        .cloned()
        .collect();
    let shapes: Vec<String> = vars
        .iter()
        .filter_map(|(k, v)| {
            let f = file.get(k)?;
            (f.size() != v.size()).then(|| format!("{k} {:?} (expected {:?})", f.size(), v.size()))
        })
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing keys: {}", list(missing)));
    }
    if !unexpected.is_empty() {
        problems.push(format!("unexpected keys: {}", list(unexpected)));
    }
    if !shapes.is_empty() {
        problems.push(format!("shape mismatches: {}", list(shapes)));
    }
    if !problems.is_empty() {
        return Err(file_err(
            path,
            format!(
                "{}; the weights do not fit this configuration",
                problems.join("; ")
            ),
        ));
    }
    tch::no_grad(|| {
        for (k, v) in vars {
            let mut v = v.shallow_clone();
            v.copy_(&file[k].to_kind(v.kind()).to_device(v.device()));
        }
    });
    Ok(())
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| file_err(path, e))
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| file_err(path, e))?;
    write_atomic(path, |tmp| {
        std::fs::write(tmp, text + "\n").map_err(|e| file_err(tmp, e))
    })
}

impl Evaluator {
    /// The card that [`Evaluator::save`] writes.
    pub fn card(&self) -> EvaluatorCard {
        EvaluatorCard {
            format_version: FORMAT_VERSION,
            origin: self.origin.clone(),
            config: self.cfg,
            vocab: self.vocab_source.clone(),
            vocab_rows: self.word_vectors().len(),
        }
    }

    /// Writes the evaluator folder (not the vocabulary: the card points at it).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        let named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        save_tensors(&dir.join(WEIGHTS_FILE), &named)?;
        write_npy(&dir.join("mean.npy"), &self.stats.mean)?;
        write_npy(&dir.join("std.npy"), &self.stats.std)?;
        write_json(&dir.join(CARD_FILE), &self.card())
    }

    /// Loads an evaluator folder.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let card_path = dir.join(CARD_FILE);
        if !card_path.is_file() {
            return Err(file_err(
                dir,
                format!(
                    "no {CARD_FILE}: not an evaluator folder (train one with `keta train evaluator` \
                     or convert the official one with scripts/convert_evaluator.py)"
                ),
            ));
        }
        let card: EvaluatorCard = read_json(&card_path)?;
        if card.format_version != FORMAT_VERSION {
            return Err(file_err(
                &card_path,
                format!(
                    "format_version {} but this keta reads {FORMAT_VERSION}; re-create the folder",
                    card.format_version
                ),
            ));
        }
        let stats = FeatureStats::load(&dir.join("mean.npy"), &dir.join("std.npy"))?;
        let vocab = WordVectors::load(&card.vocab.dir(dir))?;
        if vocab.len() != card.vocab_rows {
            return Err(file_err(
                &card_path,
                format!(
                    "the card expects {} words but {} has {}; point the card at the vocabulary it was trained with",
                    card.vocab_rows,
                    card.vocab.dir(dir).display(),
                    vocab.len()
                ),
            ));
        }
        let ev = Evaluator::new(card.config, stats, card.vocab, vocab, &card.origin, device)
            .map_err(|e| file_err(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        let file = Tensor::read_safetensors(&weights).map_err(|e| file_err(&weights, e))?;
        load_strict(&weights, &ev.vs.variables().into_iter().collect(), file)?;
        Ok(ev)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tch::Kind;

    pub(crate) fn tiny_config() -> EvaluatorConfig {
        EvaluatorConfig {
            feature_dim: 10,
            contact_dims: 4,
            word_dim: 4,
            movement_hidden: 8,
            movement_latent: 6,
            motion_hidden: 7,
            text_hidden: 5,
            embedding_dim: 3,
            max_motion_length: 24,
        }
    }

    pub(crate) fn tiny_vocab() -> WordVectors {
        let words = [
            "unk", "sos", "eos", "a", "person", "walk", "forward", "jump", "someone",
        ];
        let n = words.len() as i64;
        tch::manual_seed(7);
        let v = Tensor::randn([n, 4], (Kind::Float, Device::Cpu));
        WordVectors::new(words.iter().map(|w| w.to_string()).collect(), v).unwrap()
    }

    pub(crate) fn tiny_stats() -> FeatureStats {
        FeatureStats {
            mean: (0..10).map(|i| i as f32 * 0.1).collect(),
            std: (0..10).map(|i| 1.0 + i as f32 * 0.05).collect(),
        }
    }

    pub(crate) fn tiny_evaluator() -> Evaluator {
        tch::manual_seed(1);
        let vocab = tiny_vocab();
        Evaluator::new(
            tiny_config(),
            tiny_stats(),
            VocabSource::Folder("/nonexistent".into()),
            vocab,
            "keta",
            Device::Cpu,
        )
        .unwrap()
    }

    pub(crate) fn write_vocab(dir: &Path, v: &WordVectors) {
        std::fs::create_dir_all(dir).unwrap();
        let words = [
            "unk", "sos", "eos", "a", "person", "walk", "forward", "jump", "someone",
        ];
        std::fs::write(dir.join("words.txt"), words.join("\n") + "\n").unwrap();
        let rows: Vec<Tensor> = words.iter().map(|w| v.vector(w)).collect();
        let m = Tensor::stack(&rows, 0);
        let flat: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
        let a = ndarray::Array2::from_shape_vec((words.len(), 4), flat).unwrap();
        a.write_npy(std::fs::File::create(dir.join("vectors.npy")).unwrap())
            .unwrap();
    }

    #[test]
    fn save_then_load_gives_the_same_embeddings() {
        let dir = tempfile::tempdir().unwrap();
        let mut ev = tiny_evaluator();
        write_vocab(&dir.path().join("vocab"), ev.word_vectors());
        ev.vocab_source = VocabSource::Folder("vocab".into());
        ev.save(dir.path()).unwrap();
        let back = Evaluator::load(dir.path(), Device::Cpu).unwrap();
        assert_eq!(back.card(), ev.card());
        let x = Tensor::randn([2, 9, 10], (Kind::Float, Device::Cpu));
        let d = (ev.encode_motions(&x, &[9, 5]).unwrap()
            - back.encode_motions(&x, &[9, 5]).unwrap())
        .abs()
        .max()
        .double_value(&[]);
        assert_eq!(d, 0.0);
        let c = ["a person walks forward"];
        let d = (ev.encode_captions(&c).unwrap() - back.encode_captions(&c).unwrap())
            .abs()
            .max();
        assert_eq!(d.double_value(&[]), 0.0);
        let json = std::fs::read_to_string(dir.path().join(CARD_FILE)).unwrap();
        assert!(json.contains("\"folder\": \"vocab\""), "{json}");
    }

    #[test]
    fn broken_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Evaluator::load(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an evaluator folder"), "{err}");
        let mut ev = tiny_evaluator();
        write_vocab(&dir.path().join("vocab"), ev.word_vectors());
        ev.vocab_source = VocabSource::Folder("vocab".into());
        ev.save(dir.path()).unwrap();
        // Wrong key, extra key, wrong shape.
        let mut named: Vec<(String, Tensor)> = ev.vs.variables().into_iter().collect();
        named.retain(|(k, _)| k != "text_encoder.hidden");
        named.push((
            "text_encoder.extra".into(),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        ));
        for (k, t) in named.iter_mut() {
            if k == "motion_encoder.hidden" {
                *t = Tensor::zeros([2, 1, 9], (Kind::Float, Device::Cpu));
            }
        }
        save_tensors(&dir.path().join(WEIGHTS_FILE), &named).unwrap();
        let err = Evaluator::load(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing keys: text_encoder.hidden"), "{err}");
        assert!(err.contains("unexpected keys: text_encoder.extra"), "{err}");
        assert!(
            err.contains("motion_encoder.hidden [2, 1, 9] (expected [2, 1, 7])"),
            "{err}"
        );
        // Mean/Std of another layout.
        write_npy(&dir.path().join("mean.npy"), &[0.0; 11]).unwrap();
        let err = Evaluator::load(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("11 and 10 values"), "{err}");
    }
}
