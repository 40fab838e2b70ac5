//! KETA's auxiliary loss (method.md section 6): the frozen text-KP aligner scores the motion the
//! denoiser predicts. x0_hat (normalised) -> de-normalised rows -> joints -> soft KP -> the windows
//! of each sample's sub-sentences -> alignment loss. Gradients flow through the aligner, the KP and
//! the joint recovery into the denoiser; the aligner's own weights are frozen.

use std::collections::HashMap;

use aligner::{Aligner, AlignerCard, AlignerInput, WindowLayout};
use tch::{Device, Tensor};

use crate::data::batch::Batch;
use crate::data::normalization::Normalization;
use crate::error::{Error, Result};
use crate::training::data::CaptionTable;
use crate::training::step::AuxLoss;

/// Sub-sentences of every caption and their embeddings (made once by the caller: decomposition and
/// the sentence encoder live outside this crate).
#[derive(Debug)]
pub struct SubSentences {
    split: HashMap<String, Vec<String>>,
    table: CaptionTable,
}

impl SubSentences {
    /// `split[caption]` lists its sub-sentences, each of which `table` embeds.
    pub fn new(split: HashMap<String, Vec<String>>, table: CaptionTable) -> Result<Self> {
        for (caption, parts) in &split {
            if parts.is_empty() {
                return Err(Error::Invalid(format!(
                    "caption {caption:?} has no sub-sentence"
                )));
            }
        }
        Ok(Self { split, table })
    }

    /// The sub-sentences of `caption`.
    pub fn of(&self, caption: &str) -> Result<&[String]> {
        self.split
            .get(caption)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Invalid(format!("caption {caption:?} was not decomposed")))
    }

    /// Embeddings `[n, E]` of sub-sentences.
    pub fn embed(&self, sentences: &[String]) -> Result<Tensor> {
        self.table.lookup(sentences)
    }

    pub fn device(&self) -> Device {
        self.table.device()
    }

    /// The windows of `captions` over motions of `lengths` real frames (of `frames`), and the
    /// padded sub-sentence embeddings `[B, S, E]`.
    pub fn layout(
        &self,
        captions: &[String],
        lengths: &[i64],
        frames: i64,
        max_sentences: usize,
    ) -> Result<(WindowLayout, Tensor)> {
        let parts: Vec<&[String]> = captions.iter().map(|c| self.of(c)).collect::<Result<_>>()?;
        let lengths: Vec<usize> = lengths.iter().map(|&l| l as usize).collect();
        let counts: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        let layout = WindowLayout::new(
            &lengths,
            &counts,
            frames as usize,
            max_sentences,
            self.device(),
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let embedded = parts
            .iter()
            .map(|p| self.embed(p))
            .collect::<Result<Vec<_>>>()?;
        let padded = layout.pad_sentences(&embedded);
        Ok((layout, padded))
    }
}

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

/// L_align on the predicted clean motion, for [`crate::training::train_mdm`]'s aux-loss hook.
pub struct KpAlignLoss<'a> {
    aligner: &'a Aligner,
    card: &'a AlignerCard,
    scales: kp::SoftScales,
    sentences: &'a SubSentences,
    mean: Tensor,
    std: Tensor,
}

impl<'a> KpAlignLoss<'a> {
    /// `aligner` should be frozen (`load_aligner` freezes it); `normalization` is the denoiser's.
    pub fn new(
        aligner: &'a Aligner,
        card: &'a AlignerCard,
        sentences: &'a SubSentences,
        normalization: &Normalization,
    ) -> Result<Self> {
        let device = sentences.device();
        Ok(Self {
            aligner,
            card,
            scales: card_scales(card)?,
            sentences,
            mean: Tensor::from_slice(&normalization.mean).to_device(device),
            std: Tensor::from_slice(&normalization.std).to_device(device),
        })
    }
}

impl AuxLoss for KpAlignLoss<'_> {
    fn name(&self) -> &str {
        "kp_align"
    }

    fn loss(&mut self, x0_hat: &Tensor, _valid: &Tensor, batch: &Batch) -> Result<Tensor> {
        let n = x0_hat.size()[1];
        let kp = soft_kp(x0_hat, &self.mean, &self.std, &batch.lengths, &self.scales)?;
        let (layout, sentences) =
            self.sentences
                .layout(&batch.captions, &batch.lengths, n, self.card.max_sentences)?;
        let window_kp = layout.gather(&kp);
        let input = AlignerInput {
            sentences: &sentences,
            slot_pad: &layout.slot_pad,
            window_kp: &window_kp,
            frame_pad: &layout.frame_pad,
        };
        Ok(self.aligner.forward(&input).loss(&layout.slot_pad))
    }
}
