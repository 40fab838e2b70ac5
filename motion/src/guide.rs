//! KETA's text-KP guide (method.md sections 6-7): the frozen aligner reads a motion and says, for
//! each sub-sentence, how far the kinematic phrases of its window are from the ones the sentence
//! asks for. The auxiliary loss differentiates that distance on the predicted x0; the decoder's
//! guide tokens are d_i = F_i - Omega_i read (without gradients) from the noised ground truth in
//! training and from the current sample at every sampling step; the per-round text-KP distance shown
//! to users is the same reading on the finished motion.

use std::path::Path;

use aligner::{Aligner, AlignerCard, AlignerInput, Alignment, WindowLayout};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::data::normalization::Normalization;
use crate::error::{Error, Result};

/// The soft-KP scales an aligner was trained with (its card: PP, PDP, PRPP, LAP, GVP).
pub fn card_scales(card: &AlignerCard) -> Result<kp::SoftScales> {
    match card.kp_tau.as_slice() {
        &[pp, pdp, prpp, lap, gvp] => Ok(kp::SoftScales {
            pp,
            pdp,
            prpp,
            lap,
            gvp,
        }),
        other => Err(Error::Invalid(format!(
            "the aligner's card holds {} soft-KP scales; keta's KP layout needs 5 (PP, PDP, PRPP, LAP, GVP)",
            other.len()
        ))),
    }
}

/// Soft KP `[B, N, 392]` of normalised rows `[B, N, 263]` with real lengths (differentiable).
pub fn soft_kp(
    rows: &Tensor,
    norm_mean: &Tensor,
    norm_std: &Tensor,
    lengths: &[i64],
    scales: &kp::SoftScales,
) -> Result<Tensor> {
    soft_kp_raw(&(rows * norm_std + norm_mean), lengths, scales)
}

/// Soft KP `[B, N, 392]` of raw feature rows `[B, N, 263]` with real lengths (differentiable).
pub fn soft_kp_raw(raw: &Tensor, lengths: &[i64], scales: &kp::SoftScales) -> Result<Tensor> {
    let joints = crate::joints_from_features(raw)?; // [B, N, 22, 3]
    kp::extract(&joints, Some(lengths), kp::Mode::Soft, scales)
        .map_err(|e| Error::Invalid(format!("kinematic phrases of a motion: {e}")))
}

/// What one reading of the guide gives, without gradients.
#[derive(Debug)]
pub struct GuideReading {
    /// d_i = F_i - Omega_i `[B, S, 392]`, zero on absent sub-sentence slots.
    pub guide: Tensor,
    /// The text-KP distance of each motion: mean over its real slots of mean_k (Omega - F)^2 `[B]`.
    pub distance: Tensor,
}

/// A frozen aligner with the KP scales and the denoiser normalisation it reads motions with.
pub struct KpGuide {
    aligner: Aligner,
    card: AlignerCard,
    scales: kp::SoftScales,
    /// `[263]` each, on the aligner's device.
    mean: Tensor,
    std: Tensor,
    _vs: VarStore,
}

impl std::fmt::Debug for KpGuide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KpGuide").field("card", &self.card).finish()
    }
}

impl KpGuide {
    /// Loads (and freezes) the aligner folder `dir` for a denoiser with `text_dim`-d embeddings from
    /// `text_encoder`, normalised by `normalization`. A mismatch of encoder, embedding size or KP
    /// scales is refused, naming both sides.
    pub fn load(
        dir: &Path,
        text_encoder: &str,
        text_dim: i64,
        normalization: &Normalization,
        device: Device,
    ) -> Result<Self> {
        let (card, vs, aligner) = aligner::load_aligner(dir, device)
            .map_err(|e| Error::file(dir, format!("cannot load the aligner: {e}")))?;
        if card.text_encoder != text_encoder {
            return Err(Error::file(
                dir,
                format!(
                    "the aligner was trained on {:?} embeddings, the denoiser on {text_encoder:?}",
                    card.text_encoder
                ),
            ));
        }
        if card.model.text_dim != text_dim {
            return Err(Error::file(
                dir,
                format!(
                    "the aligner takes {}-d sentence embeddings, the denoiser {text_dim}-d",
                    card.model.text_dim
                ),
            ));
        }
        Self::new(aligner, vs, card, normalization, device)
    }

    /// Wraps a loaded aligner (its `vs` is kept alive and frozen).
    pub fn new(
        aligner: Aligner,
        mut vs: VarStore,
        card: AlignerCard,
        normalization: &Normalization,
        device: Device,
    ) -> Result<Self> {
        vs.freeze();
        Ok(Self {
            scales: card_scales(&card)?,
            mean: Tensor::from_slice(&normalization.mean).to_device(device),
            std: Tensor::from_slice(&normalization.std).to_device(device),
            aligner,
            card,
            _vs: vs,
        })
    }

    pub fn card(&self) -> &AlignerCard {
        &self.card
    }

    /// The aligner on normalised rows `x [B, N, 263]` with real `lengths`, the windows of `layout`
    /// and padded sub-sentence embeddings `[B, S, E]`. Differentiable in `x`.
    pub fn align(
        &self,
        x: &Tensor,
        lengths: &[i64],
        layout: &WindowLayout,
        sentences: &Tensor,
    ) -> Result<Alignment> {
        let x = x.to_kind(Kind::Float);
        let kp = soft_kp(&x, &self.mean, &self.std, lengths, &self.scales)?; // [B, N, 392]
        let window_kp = layout.gather(&kp); // [B, S, L, 392]
        Ok(self.aligner.forward(&AlignerInput {
            sentences,
            slot_pad: &layout.slot_pad,
            window_kp: &window_kp,
            frame_pad: &layout.frame_pad,
        }))
    }

    /// Guide tokens and distances of `x` (as [`Self::align`]), without gradients.
    pub fn read(
        &self,
        x: &Tensor,
        lengths: &[i64],
        layout: &WindowLayout,
        sentences: &Tensor,
    ) -> Result<GuideReading> {
        tch::no_grad(|| {
            let a = self.align(&x.detach(), lengths, layout, sentences)?;
            let real = layout
                .slot_pad
                .logical_not()
                .unsqueeze(-1)
                .to_kind(Kind::Float);
            Ok(GuideReading {
                guide: a.guide() * real,
                distance: a.motion_distances(&layout.slot_pad),
            })
        })
    }
}
