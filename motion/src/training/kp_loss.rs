//! KETA's auxiliary loss (method.md section 6): the frozen text-KP aligner scores the motion the
//! denoiser predicts. x0_hat (normalised) -> de-normalised rows -> joints -> soft KP -> the windows
//! of each sample's sub-sentences -> alignment loss. Gradients flow through the aligner, the KP and
//! the joint recovery into the denoiser; the aligner's own weights are frozen.

use std::collections::HashMap;

use aligner::WindowLayout;
use tch::{Device, Tensor};

use crate::data::batch::Batch;
use crate::error::{Error, Result};
use crate::guide::KpGuide;
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

/// L_align on the predicted clean motion, for [`crate::training::train_mdm`]'s aux-loss hook.
pub struct KpAlignLoss<'a> {
    guide: &'a KpGuide,
    sentences: &'a SubSentences,
    max_sentences: usize,
}

impl<'a> KpAlignLoss<'a> {
    /// Captions are split as `sentences` holds them, at most `max_sentences` each.
    pub fn new(guide: &'a KpGuide, sentences: &'a SubSentences, max_sentences: usize) -> Self {
        Self {
            guide,
            sentences,
            max_sentences,
        }
    }
}

impl AuxLoss for KpAlignLoss<'_> {
    fn name(&self) -> &str {
        "kp_align"
    }

    fn loss(&mut self, x0_hat: &Tensor, _valid: &Tensor, batch: &Batch) -> Result<Tensor> {
        let n = x0_hat.size()[1];
        let (layout, sentences) =
            self.sentences
                .layout(&batch.captions, &batch.lengths, n, self.max_sentences)?;
        let alignment = self
            .guide
            .align(x0_hat, &batch.lengths, &layout, &sentences)?;
        Ok(alignment.loss(&layout.slot_pad))
    }
}
