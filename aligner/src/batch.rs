//! Window KP for a batch in one gather: each motion's sub-sentence windows (over its true length,
//! method.md section 4) are laid out as flat frame indices on the host, so cutting `[B, S, L, 392]`
//! windows out of batched KP `[B, T, 392]` is one `index_select`, the same on the CPU and on the GPU
//! (where the auxiliary loss runs it every training step).

use std::ops::Range;

use tch::{Device, Kind, Tensor};

use crate::model::KP_DIM;
use crate::windows::temporal_windows;

/// Where every window of a batch reads its frames.
#[derive(Debug)]
pub struct WindowLayout {
    /// Flat indices into `[B * T]` frames `[B, S, L]` (0 on padding, which is masked).
    index: Tensor,
    /// `[B, S, L]`, true on padded frames.
    pub frame_pad: Tensor,
    /// `[B, S]`, true on absent sub-sentence slots.
    pub slot_pad: Tensor,
    /// The windows, per motion.
    pub windows: Vec<Vec<Range<usize>>>,
    /// Frames per motion in the batched KP (T).
    frames: usize,
}

/// Why a layout cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayoutError {
    #[error("motion {motion} has {got} sub-sentences; the aligner takes at most {max}")]
    TooManySentences {
        motion: usize,
        got: usize,
        max: usize,
    },
    #[error("motion {motion} has no sub-sentence")]
    NoSentence { motion: usize },
    #[error("motion {motion} has {length} KP frames, more than the batch's {frames} (or none)")]
    BadLength {
        motion: usize,
        length: usize,
        frames: usize,
    },
}

impl WindowLayout {
    /// Motion b has `lengths[b]` real KP frames (of `frames` in the batched tensor) and
    /// `sentences[b]` sub-sentences (1..=`max_sentences`). S = the most sub-sentences in the batch,
    /// L = the longest window.
    pub fn new(
        lengths: &[usize],
        sentences: &[usize],
        frames: usize,
        max_sentences: usize,
        device: Device,
    ) -> Result<Self, LayoutError> {
        let mut windows = Vec::with_capacity(lengths.len());
        for (motion, (&length, &n)) in lengths.iter().zip(sentences).enumerate() {
            if n == 0 {
                return Err(LayoutError::NoSentence { motion });
            }
            if n > max_sentences {
                return Err(LayoutError::TooManySentences {
                    motion,
                    got: n,
                    max: max_sentences,
                });
            }
            if length == 0 || length > frames {
                return Err(LayoutError::BadLength {
                    motion,
                    length,
                    frames,
                });
            }
            windows.push(temporal_windows(length, n));
        }
        let s = sentences.iter().copied().max().unwrap_or(1);
        let l = windows.iter().flatten().map(|w| w.len()).max().unwrap_or(1);
        let b = lengths.len();
        let (mut index, mut frame_pad, mut slot_pad) = (
            vec![0i64; b * s * l],
            vec![true; b * s * l],
            vec![true; b * s],
        );
        for (motion, ws) in windows.iter().enumerate() {
            for (slot, w) in ws.iter().enumerate() {
                slot_pad[motion * s + slot] = false;
                for (j, frame) in w.clone().enumerate() {
                    let at = (motion * s + slot) * l + j;
                    index[at] = (motion * frames + frame) as i64;
                    frame_pad[at] = false;
                }
            }
        }
        let (bi, si, li) = (b as i64, s as i64, l as i64);
        Ok(Self {
            index: Tensor::from_slice(&index).to_device(device),
            frame_pad: Tensor::from_slice(&frame_pad)
                .view([bi, si, li])
                .to_device(device),
            slot_pad: Tensor::from_slice(&slot_pad)
                .view([bi, si])
                .to_device(device),
            windows,
            frames,
        })
    }

    /// Cuts the windows out of batched KP `[B, T, 392]` -> `[B, S, L, 392]` (zeros on padding).
    /// Differentiable: gradients flow back to `kp`.
    pub fn gather(&self, kp: &Tensor) -> Tensor {
        let (b, s, l) = self.frame_pad.size3().expect("[B, S, L]");
        let flat = kp.reshape([b * self.frames as i64, KP_DIM]);
        let keep = self
            .frame_pad
            .logical_not()
            .unsqueeze(-1)
            .to_kind(kp.kind());
        flat.index_select(0, &self.index).view([b, s, l, KP_DIM]) * keep
    }

    /// Sub-sentence embeddings of every motion (`[n_b, E]` each) padded to `[B, S, E]`.
    pub fn pad_sentences(&self, per_motion: &[Tensor]) -> Tensor {
        let s = self.slot_pad.size()[1];
        let rows: Vec<Tensor> = per_motion
            .iter()
            .map(|t| {
                let n = t.size()[0];
                t.pad([0, 0, 0, s - n], "constant", Some(0.0))
            })
            .collect();
        Tensor::stack(&rows, 0).to_kind(Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_each_window_from_its_motion() {
        // Two motions of 10 and 6 real frames (T = 10), with 2 and 1 sub-sentences.
        let layout = WindowLayout::new(&[10, 6], &[2, 1], 10, 8, Device::Cpu).unwrap();
        assert_eq!(layout.windows[0], temporal_windows(10, 2));
        assert_eq!(layout.windows[1], vec![0..6]);
        // KP whose every value names (motion, frame).
        let kp = Tensor::arange(20, (Kind::Float, Device::Cpu))
            .view([2, 10, 1])
            .expand([2, 10, KP_DIM], false)
            .contiguous();
        let w = layout.gather(&kp);
        let l = layout.frame_pad.size()[2] as usize;
        assert_eq!(w.size(), [2, 2, l as i64, KP_DIM]);
        for (motion, ws) in layout.windows.iter().enumerate() {
            for (slot, win) in ws.iter().enumerate() {
                for j in 0..l {
                    let got = w.double_value(&[motion as i64, slot as i64, j as i64, 5]);
                    let want = if j < win.len() {
                        (motion * 10 + win.start + j) as f64
                    } else {
                        0.0
                    };
                    assert_eq!(got, want, "motion {motion} slot {slot} frame {j}");
                }
            }
        }
        // Motion 1's second slot is absent; frames past 6 of motion 1 are never read.
        assert_eq!(
            Vec::<bool>::try_from(layout.slot_pad.flatten(0, 1)).unwrap(),
            [false, false, false, true]
        );
        // Gradients flow back to the KP, only to frames some window reads.
        let kp = kp.set_requires_grad(true);
        let g = Tensor::run_backward(&[layout.gather(&kp).sum(Kind::Float)], &[&kp], false, false);
        let per_frame = g[0].select(-1, 0);
        assert_eq!(per_frame.double_value(&[1, 7]), 0.0);
        assert!(per_frame.double_value(&[1, 3]) > 0.0);
    }

    #[test]
    fn refuses_what_it_cannot_lay_out() {
        let e = WindowLayout::new(&[10], &[9], 10, 8, Device::Cpu).unwrap_err();
        assert_eq!(
            e.to_string(),
            "motion 0 has 9 sub-sentences; the aligner takes at most 8"
        );
        assert!(WindowLayout::new(&[10], &[0], 10, 8, Device::Cpu).is_err());
        assert!(WindowLayout::new(&[11], &[1], 10, 8, Device::Cpu).is_err());
    }

    #[test]
    fn pads_sentences_to_the_slots() {
        let layout = WindowLayout::new(&[8, 8], &[3, 1], 8, 8, Device::Cpu).unwrap();
        let e = layout.pad_sentences(&[
            Tensor::ones([3, 4], (Kind::Float, Device::Cpu)),
            Tensor::ones([1, 4], (Kind::Float, Device::Cpu)),
        ]);
        assert_eq!(e.size(), [2, 3, 4]);
        assert_eq!(e.get(1).sum(Kind::Float).double_value(&[]), 4.0);
    }
}
