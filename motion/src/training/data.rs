//! What the training loop feeds on: caption embeddings looked up from a precomputed table, and an
//! endless, resumable stream of batches ((epoch, position) names every batch exactly), made ahead
//! on worker threads.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;

use tch::{Device, Kind, Tensor};

use crate::data::batch::{Batch, BatchOptions, BatchPlan, Batches};
use crate::data::dataset::Dataset;
use crate::error::{Error, Result};
use crate::model::Padding;

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

    /// Where the embeddings live.
    pub fn device(&self) -> Device {
        self.table.device()
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
        let ids = kernels::cuda::upload(&Tensor::from_slice(&ids), self.table.device());
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

    /// The next batch, made on this thread (the position advances past it).
    pub fn next_batch(&mut self) -> Batch {
        let (plan, _, _) = self.next_plan();
        self.data.materialize(&plan)
    }

    /// Rank `rank` of `world`'s shard of the next global batch, with the global batch's longest
    /// clip (what its device batch is padded to).
    pub fn next_shard(&mut self, rank: usize, world: usize) -> (Batch, i64) {
        let (plan, _, _) = self.next_plan();
        let rows = plan.longest() as i64;
        (self.data.materialize(&plan.shard(rank, world)), rows)
    }

    /// The next batch's plan with the (epoch, position) reached after it.
    fn next_plan(&mut self) -> (BatchPlan, u64, u64) {
        loop {
            if let Some(plan) = self.batches.next_plan() {
                self.position += 1;
                return (plan, self.epoch, self.position);
            }
            self.epoch += 1;
            self.position = 0;
            self.batches = self.data.batches(&self.opts, self.epoch);
        }
    }
}

/// A batch (this rank's shard) with the stream position reached after it (what a checkpoint
/// records).
pub struct Loaded {
    /// For a GPU run, its motions are cut to `rows` and pinned (see [`Prefetch::start`]).
    pub batch: Batch,
    /// Frames of the global batch's longest clip (the shard is padded to it).
    pub rows: i64,
    pub epoch: u64,
    pub position: u64,
}

/// Batches made ahead of the training loop: one thread draws plans in order (the RNG stream stays
/// sequential, so batches are exactly those of [`BatchStream`]), `workers` threads copy and
/// normalise them round-robin, and [`Prefetch::next`] takes them back in the same order. In a
/// data-parallel run (`shard = (rank, world)`) every rank draws the global plans and copies only
/// its shard: host work per rank stays that of its own samples.
///
/// For a GPU run the workers also cut each batch to its rows and copy it into pinned memory, so
/// that the training thread's copy to the GPU is asynchronous: from pageable memory it would wait
/// for the GPU's queue to drain at every step, and with several ranks each rank's host hiccups
/// would stall all of them.
pub struct Prefetch {
    receivers: Vec<Receiver<Loaded>>,
    next: usize,
}

impl Prefetch {
    /// Starts the threads in `scope` for a run on `device`; they stop once the `Prefetch` is
    /// dropped.
    pub fn start<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        mut stream: BatchStream<'env>,
        workers: usize,
        shard: (usize, usize),
        device: Device,
    ) -> Self {
        let workers = workers.max(1);
        let data = stream.data;
        let mut plan_senders = Vec::with_capacity(workers);
        let mut receivers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (plan_tx, plan_rx) = sync_channel::<(BatchPlan, u64, u64)>(2);
            let (batch_tx, batch_rx) = sync_channel::<Loaded>(2);
            scope.spawn(move || {
                for (plan, epoch, position) in plan_rx {
                    let rows = plan.longest() as i64;
                    let mut batch = data.materialize(&plan.shard(shard.0, shard.1));
                    if device.is_cuda() {
                        // Unpinned (no CUDA runtime) the copy still works, blocking.
                        if let Ok(p) = kernels::cuda::pinned(&batch.motions.narrow(1, 0, rows)) {
                            batch.motions = p;
                        }
                    }
                    let loaded = Loaded {
                        batch,
                        rows,
                        epoch,
                        position,
                    };
                    if batch_tx.send(loaded).is_err() {
                        return;
                    }
                }
            });
            plan_senders.push(plan_tx);
            receivers.push(batch_rx);
        }
        scope.spawn(move || {
            for i in 0.. {
                if plan_senders[i % workers].send(stream.next_plan()).is_err() {
                    return;
                }
            }
        });
        Self { receivers, next: 0 }
    }

    pub fn next(&mut self) -> Result<Loaded> {
        let k = self.next % self.receivers.len();
        self.next += 1;
        self.receivers[k]
            .recv()
            .map_err(|_| Error::Invalid("a batch-loading thread stopped unexpectedly".into()))
    }
}

/// A batch on the device, cut to its longest clip.
pub struct DeviceBatch {
    /// Normalised rows `[B, N, 263]` f32, zero after each length.
    pub x0: Tensor,
    /// `[B, N]` true on real frames.
    pub valid: Tensor,
    /// Padded frames (masked by attention, skipped by the token-wise layers).
    pub padding: Padding,
    /// Caption embeddings `[B, E]`.
    pub text: Tensor,
}

impl DeviceBatch {
    pub fn new(batch: &Batch, captions: &CaptionTable, device: Device) -> Result<Self> {
        let n = batch.lengths.iter().copied().max().unwrap_or(1);
        Self::with_rows(batch, n, captions, device)
    }

    /// `batch` cut to `rows` frames (at least its longest clip): a shard of a data-parallel batch
    /// keeps the whole batch's length, so its noise and padding are those of one process.
    pub fn with_rows(
        batch: &Batch,
        rows: i64,
        captions: &CaptionTable,
        device: Device,
    ) -> Result<Self> {
        // From pinned memory when the loader pinned it (`Prefetch`), so the host does not wait.
        let x0 = kernels::cuda::upload(&batch.motions.narrow(1, 0, rows), device);
        Ok(Self::from_parts(
            x0,
            &batch.lengths,
            captions.lookup(&batch.captions)?,
        ))
    }

    /// `x0 [B, N, 263]` on the device, real frames per clip, text `[B, E]`.
    pub fn from_parts(x0: Tensor, lengths: &[i64], text: Tensor) -> Self {
        let n = x0.size()[1];
        let padding = Padding::from_lengths(lengths, n, x0.device());
        Self {
            valid: padding.mask.logical_not(),
            padding,
            x0,
            text,
        }
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
    let count = (m.sum_dim_intlist([1, 2].as_slice(), false, Kind::Float) * x0.size()[2] as f64)
        .clamp_min(1.0);
    (per_sample / count).mean(Kind::Float)
}

/// MSE of frame-to-frame differences (MDM's velocity loss), over pairs of real frames.
/// `pred`, `x0 [B, N, 263]`, `valid [B, N]` -> scalar f32 (0 when N < 2).
pub fn velocity_mse(pred: &Tensor, x0: &Tensor, valid: &Tensor) -> Tensor {
    let n = x0.size()[1];
    if n < 2 {
        return Tensor::zeros([], (Kind::Float, x0.device()));
    }
    let diff = |t: &Tensor| t.narrow(1, 1, n - 1) - t.narrow(1, 0, n - 1);
    let pairs = valid
        .narrow(1, 1, n - 1)
        .logical_and(&valid.narrow(1, 0, n - 1));
    masked_mse(&diff(&pred.to_kind(Kind::Float)), &diff(x0), &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn losses_count_real_frames_only() {
        // Sample 0: 3 real frames, sample 1: 2; one feature dim each for easy arithmetic.
        let x0 = Tensor::zeros([2, 3, 1], (Kind::Float, Device::Cpu));
        let pred = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 3.0, 1.0, 100.0]).view([2, 3, 1]);
        let valid = Tensor::from_slice(&[true, true, true, true, true, false]).view([2, 3]);
        // x0 loss: mean over samples of (1+4+16)/3 and (9+1)/2.
        let want = (21.0 / 3.0 + 10.0 / 2.0) / 2.0;
        assert!((masked_mse(&pred, &x0, &valid).double_value(&[]) - want).abs() < 1e-5);
        // Velocity: diffs (1, 2) and (-2); the pair touching the padded frame is out.
        let want = ((1.0 + 4.0) / 2.0 + 4.0 / 1.0) / 2.0;
        assert!((velocity_mse(&pred, &x0, &valid).double_value(&[]) - want).abs() < 1e-5);
    }
}
