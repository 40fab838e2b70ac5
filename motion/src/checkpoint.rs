//! Model folders: what `keta train mdm` writes into each `ckpt-<step>/` and what `keta generate`
//! loads (architecture.md "Files"): `config.json` (a [`ModelCard`]), `weights.safetensors` (EMA
//! weights), `Mean.npy` / `Std.npy`. A training output folder works too: its `latest` is followed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kernels::Attention;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Device;

use crate::data::normalization::Normalization;
use crate::diffusion::{NoiseSchedule, TRAIN_STEPS};
use crate::error::{Error, Result};
use crate::guide::KpGuide;
use crate::model::{Denoiser, DenoiserConfig};

/// Version of `config.json`'s layout.
pub const CARD_FORMAT: u32 = 1;

/// Sub-folder of a model folder holding the aligner a KETA model was trained with (needed by guide
/// tokens; with it any model reports its text-KP distance).
pub const ALIGNER_DIR: &str = "aligner";

/// Copies the aligner of `from` (a folder from `keta train aligner`, or one of its checkpoints) into
/// `to`: its `config.json` and `weights.safetensors`.
pub fn copy_aligner(from: &Path, to: &Path) -> Result<()> {
    let src = match train::latest_checkpoint(from)? {
        Some(ckpt) if !from.join("config.json").is_file() => ckpt,
        _ => from.to_path_buf(),
    };
    std::fs::create_dir_all(to).map_err(|e| Error::file(to, e.to_string()))?;
    for name in ["config.json", "weights.safetensors"] {
        let file = src.join(name);
        std::fs::copy(&file, to.join(name))
            .map_err(|e| Error::file(&file, format!("cannot copy the aligner's file: {e}")))?;
    }
    Ok(())
}

/// The diffusion process a model was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffusionConfig {
    /// Steps T of the forward process.
    pub steps: usize,
    /// Noise schedule (only "cosine" exists).
    pub schedule: String,
    /// What the network predicts (only "x0" exists).
    pub prediction: String,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        Self {
            steps: TRAIN_STEPS,
            schedule: "cosine".into(),
            prediction: "x0".into(),
        }
    }
}

/// The motion lengths a model saw in training: generation outside them is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MotionSpec {
    /// Frames (feature rows) per second.
    pub fps: f64,
    /// Shortest and longest training crop, in feature rows.
    pub min_rows: usize,
    pub max_rows: usize,
}

impl Default for MotionSpec {
    fn default() -> Self {
        Self {
            fps: 20.0,
            min_rows: 40,
            max_rows: 196,
        }
    }
}

impl MotionSpec {
    /// Seconds -> rows at this frame rate, refused (with the range) outside what the model supports.
    pub fn rows_for_seconds(&self, seconds: f64) -> Result<i64> {
        let rows = (seconds * self.fps).round();
        let (lo, hi) = (self.min_rows as f64, self.max_rows as f64);
        if !seconds.is_finite() || rows < lo || rows > hi {
            return Err(Error::Invalid(format!(
                "--seconds {seconds} is outside what this model supports: {:.2} to {:.2} s \
                 ({lo} to {hi} frames at {} fps)",
                lo / self.fps,
                hi / self.fps,
                self.fps
            )));
        }
        Ok(rows as i64)
    }
}

/// `config.json` of a model folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    pub format: u32,
    pub model: DenoiserConfig,
    #[serde(default)]
    pub diffusion: DiffusionConfig,
    /// Id of the sentence encoder whose embeddings the model was trained on.
    pub text_encoder: String,
    #[serde(default)]
    pub motion: MotionSpec,
    /// Soft-KP scales (PP, PDP, PRPP, LAP, GVP) of the aligner used in training (none without one).
    #[serde(default)]
    pub kp_tau: Option<Vec<f64>>,
    /// The training configuration, for the record (generate ignores it).
    #[serde(default)]
    pub training: Option<serde_json::Value>,
}

impl ModelCard {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, format!("cannot read the model card: {e}")))?;
        let card: ModelCard = serde_json::from_str(&text)
            .map_err(|e| Error::file(path, format!("not a keta model card: {e}")))?;
        if card.format != CARD_FORMAT {
            return Err(Error::file(
                path,
                format!("format {} (this keta reads {CARD_FORMAT})", card.format),
            ));
        }
        if card.diffusion.schedule != "cosine" || card.diffusion.prediction != "x0" {
            return Err(Error::file(
                path,
                "only the cosine schedule with x0 prediction is implemented",
            ));
        }
        card.model
            .validate()
            .map_err(|e| Error::file(path, e.to_string()))?;
        Ok(card)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a card serialises");
        train::write_atomic(path, format!("{json}\n").as_bytes())?;
        Ok(())
    }
}

/// A loaded model: card, denoiser (fp32 on `device`), normalisation and noise schedule.
pub struct MotionModel {
    pub dir: PathBuf,
    pub card: ModelCard,
    pub vs: VarStore,
    pub denoiser: Denoiser,
    pub normalization: Normalization,
    pub schedule: NoiseSchedule,
    /// The folder's `aligner/` (required by guide tokens; optional otherwise).
    pub guide: Option<KpGuide>,
}

/// The folder holding `config.json`: `dir` itself, or the checkpoint its `latest` names.
pub fn resolve_model_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join("config.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    match train::latest_checkpoint(dir)? {
        Some(ckpt) => Ok(ckpt),
        None if dir.is_dir() => Err(Error::file(
            dir,
            "no config.json and no `latest` checkpoint: not a keta model folder",
        )),
        None => Err(Error::file(dir, "no such model folder")),
    }
}

impl MotionModel {
    /// Loads `dir` (see [`resolve_model_dir`]) onto `device` with the given attention backend.
    /// Every missing file, unknown key or shape mismatch is an error naming it.
    pub fn load(dir: &Path, device: Device, attention: Arc<dyn Attention>) -> Result<Self> {
        let dir = resolve_model_dir(dir)?;
        let card = ModelCard::read(&dir.join("config.json"))?;
        let mut vs = VarStore::new(device);
        let denoiser = Denoiser::with_attention(vs.root(), &card.model, attention)?;
        let weights = dir.join("weights.safetensors");
        if !weights.is_file() {
            return Err(Error::file(&weights, "missing (the model's weights)"));
        }
        train::load_strict(&mut vs, &weights, &[])?;
        vs.freeze();
        let normalization = Normalization::read(&dir)?;
        let schedule = NoiseSchedule::cosine(card.diffusion.steps)?;
        let aligner = dir.join(ALIGNER_DIR);
        let guide = if aligner.join("config.json").is_file() {
            Some(KpGuide::load(
                &aligner,
                &card.text_encoder,
                card.model.text_dim,
                &normalization,
                device,
            )?)
        } else if card.model.guide_tokens {
            return Err(Error::file(
                &aligner,
                "missing: this model has guide tokens and needs the aligner it was trained with",
            ));
        } else {
            None
        };
        Ok(Self {
            dir,
            card,
            vs,
            denoiser,
            normalization,
            schedule,
            guide,
        })
    }
}

/// Longest motion `MotionModel::allow_rows` accepts: 64k frames (53 minutes at 20 fps).
pub const MAX_EXTRAPOLATED_ROWS: i64 = 65_536;

impl MotionModel {
    /// Lets the model sample `rows` frames even beyond its training lengths (up to
    /// [`MAX_EXTRAPOLATED_ROWS`]): long motions for radial attention. Quality past the trained
    /// length is not guaranteed.
    pub fn allow_rows(&mut self, rows: i64) -> Result<()> {
        if !(1..=MAX_EXTRAPOLATED_ROWS).contains(&rows) {
            return Err(Error::Invalid(format!(
                "{rows} frames: at most {MAX_EXTRAPOLATED_ROWS} (64k) can be generated"
            )));
        }
        self.denoiser.extend_frames(rows);
        self.card.model.max_frames = self.card.model.max_frames.max(rows);
        Ok(())
    }
}

/// Copies the model of `from` (a checkpoint, or a training folder's `latest`) into the new folder
/// `out`: `config.json`, `weights.safetensors` in `kind` (fp16 halves the size; the optimizer and
/// training weights stay behind), `Mean.npy`, `Std.npy`. Written to a temp folder and renamed, then
/// loaded back as a check. Returns the number of parameters.
pub fn pack(from: &Path, out: &Path, kind: tch::Kind) -> Result<i64> {
    let src = resolve_model_dir(from)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| Error::file(out, e.to_string()))?
            .next()
            .is_some()
    {
        return Err(Error::file(
            out,
            "exists and is not empty; choose a new folder",
        ));
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::file(out, "needs a folder name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = out.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::file(&tmp, e.to_string()))?;
    let result = (|| -> Result<i64> {
        let card = ModelCard::read(&src.join("config.json"))?;
        card.write(&tmp.join("config.json"))?;
        let weights = train::read_safetensors(&src.join("weights.safetensors"))?;
        let numel = weights.iter().map(|(_, t)| t.numel() as i64).sum();
        let cast: Vec<(String, tch::Tensor)> = weights
            .into_iter()
            .map(|(k, t)| (k, t.to_kind(kind)))
            .collect();
        train::save_safetensors(&tmp.join("weights.safetensors"), &cast)?;
        Normalization::read(&src)?.write(&tmp)?;
        if src.join(ALIGNER_DIR).is_dir() {
            copy_aligner(&src.join(ALIGNER_DIR), &tmp.join(ALIGNER_DIR))?;
        }
        Ok(numel)
    })();
    let numel = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        std::fs::remove_dir(out).map_err(|e| Error::file(out, e.to_string()))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::file(out, e.to_string()))?;
    MotionModel::load(out, Device::Cpu, Arc::new(kernels::DenseAttention))?;
    Ok(numel)
}
