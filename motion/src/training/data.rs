//! What the training loop feeds on: caption embeddings looked up from a precomputed table, and an
//! endless, resumable stream of batches ((epoch, position) names every batch exactly).

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

use crate::data::batch::{Batch, BatchOptions, Batches};
use crate::data::dataset::Dataset;
use crate::error::{Error, Result};

/// Sentence embeddings of every caption the data sets hold, computed once before training (the
/// encoder is frozen, so re-running it every step would only cost time).
#[derive(Debug)]
pub struct CaptionTable {
    index: HashMap<String, i64>,
    /// `[U, E]` on the training device.
    table: Tensor,
}

impl CaptionTable {
    /// `captions[i]` has the embedding `embeddings[i]` (`[U, E]`).
    pub fn new(captions: Vec<String>, embeddings: Tensor) -> Result<Self> {
        let size = embeddings.size();
        if size.len() != 2 || size[0] != captions.len() as i64 {
            return Err(Error::Shape {
                expected: format!("caption embeddings [{}, E]", captions.len()),
                got: size,
            });
        }
        let index = captions
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, i as i64))
            .collect();
        Ok(Self {
            index,
            table: embeddings,
        })
    }

    /// Embedding width E.
    pub fn dim(&self) -> i64 {
        self.table.size()[1]
    }

    /// `captions` -> `[B, E]` on the table's device.
    pub fn lookup(&self, captions: &[String]) -> Result<Tensor> {
        let ids = captions
            .iter()
            .map(|c| {
                self.index.get(c).copied().ok_or_else(|| {
                    Error::Invalid(format!("caption {c:?} has no precomputed embedding"))
                })
            })
            .collect::<Result<Vec<i64>>>()?;
        let ids = Tensor::from_slice(&ids).to_device(self.table.device());
        Ok(self.table.index_select(0, &ids))
    }

    /// Every distinct caption of `sets`, in first-seen order (what to embed).
    pub fn captions_of(sets: &[&Dataset]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        sets.iter()
            .flat_map(|d| d.samples.iter())
            .flat_map(|s| s.captions.iter())
            .filter(|c| seen.insert(c.caption.clone()))
            .map(|c| c.caption.clone())
            .collect()
    }
}

/// Batches across epochs; `(epoch, position)` is saved in checkpoints and restored exactly.
pub struct BatchStream<'a> {
    data: &'a Dataset,
    opts: BatchOptions,
    pub epoch: u64,
    /// Batches already taken from this epoch.
    pub position: u64,
    batches: Batches<'a>,
}

impl<'a> BatchStream<'a> {
    /// The stream positioned at batch `position` of epoch `epoch`. Errors if the split cannot fill
    /// one batch.
    pub fn new(data: &'a Dataset, opts: BatchOptions, epoch: u64, position: u64) -> Result<Self> {
        let mut batches = data.batches(&opts, epoch);
        if batches.is_empty() {
            return Err(Error::Invalid(format!(
                "the {} split of {} has {} samples, fewer than one batch of {}: lower \
                 batch_size or add data",
                data.split,
                data.dir.display(),
                data.samples.len(),
                opts.batch_size
            )));
        }
        // Batches are a pure function of (seed, epoch, position): replaying the skipped ones
        // advances the crop/caption RNG exactly as the interrupted run did.
        for _ in 0..position {
            batches.next();
        }
        Ok(Self {
            data,
            opts,
            epoch,
            position,
            batches,
        })
    }

    pub fn next_batch(&mut self) -> Batch {
        loop {
            if let Some(b) = self.batches.next() {
                self.position += 1;
                return b;
            }
            self.epoch += 1;
            self.position = 0;
            self.batches = self.data.batches(&self.opts, self.epoch);
        }
    }
}

/// A batch on the device, cut to its longest clip.
pub struct DeviceBatch {
    /// Normalised rows `[B, N, 263]` f32, zero after each length.
    pub x0: Tensor,
    /// `[B, N]` true on real frames.
    pub valid: Tensor,
    /// `[B, N]` true on padded frames (what attention masks).
    pub pad: Tensor,
    /// Caption embeddings `[B, E]`.
    pub text: Tensor,
}

impl DeviceBatch {
    pub fn new(batch: &Batch, captions: &CaptionTable, device: Device) -> Result<Self> {
        let n = batch.lengths.iter().copied().max().unwrap_or(1);
        let x0 = batch.motions.narrow(1, 0, n).to_device(device);
        let lengths = Tensor::from_slice(&batch.lengths).to_device(device);
        let valid = Tensor::arange(n, (Kind::Int64, device))
            .unsqueeze(0)
            .lt_tensor(&lengths.unsqueeze(1));
        Ok(Self {
            x0,
            pad: valid.logical_not(),
            valid,
            text: captions.lookup(&batch.captions)?,
        })
    }
}

/// Mean over samples of the MSE over each sample's real frames and all 263 dims.
/// `pred`, `x0 [B, N, 263]`, `valid [B, N]` -> scalar f32.
pub fn masked_mse(pred: &Tensor, x0: &Tensor, valid: &Tensor) -> Tensor {
    let m = valid.unsqueeze(-1).to_kind(Kind::Float); // [B, N, 1]
    let per_sample = ((pred.to_kind(Kind::Float) - x0).square() * &m).sum_dim_intlist(
        [1, 2].as_slice(),
        false,
        Kind::Float,
    );
    let count = m.sum_dim_intlist([1, 2].as_slice(), false, Kind::Float) * x0.size()[2] as f64;
    (per_sample / count).mean(Kind::Float)
}
