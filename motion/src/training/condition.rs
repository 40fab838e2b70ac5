//! The decoder variant's condition in training (method.md sections 2 and 7): the sub-sentences of
//! each caption and, with an aligner, one guide token per sub-sentence read from the noised ground
//! truth x_t (detached, as KETA trains them; at inference the same reading runs on the sample).

use tch::Tensor;

use crate::data::batch::Batch;
use crate::error::Result;
use crate::guide::KpGuide;
use crate::model::Condition;
use crate::training::kp_loss::SubSentences;
use crate::training::step::ConditionHook;

/// Sub-sentence tokens, plus guide tokens when `guide` is set.
pub struct KetaCondition<'a> {
    pub sentences: &'a SubSentences,
    /// Slots of the model's memory (captions were split into at most this many).
    pub max_sentences: usize,
    pub guide: Option<&'a KpGuide>,
}

impl ConditionHook for KetaCondition<'_> {
    fn extend(&self, cond: Condition, x_t: &Tensor, batch: &Batch) -> Result<Condition> {
        let n = x_t.size()[1];
        let (layout, sentences) =
            self.sentences
                .layout(&batch.captions, &batch.lengths, n, self.max_sentences)?;
        let guide = match self.guide {
            Some(g) => Some(g.read(x_t, &batch.lengths, &layout, &sentences)?.guide),
            None => None,
        };
        Ok(Condition {
            sentences: Some((sentences, layout.slot_pad.shallow_clone())),
            guide,
            ..cond
        })
    }
}
