//! Shuffled, padded, z-normalised training batches with their true lengths, as MDM's HumanML3D
//! loader makes them: crop a random window whose length is a multiple of 4, pad to 196 rows.
//!
//! Randomness comes from a ChaCha8 stream seeded by (seed, epoch), so batch k of epoch e is the same
//! in every run: resuming training at (epoch, position) reproduces the data order exactly.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::data::dataset::Dataset;
use crate::features::FEATURE_DIM;

/// How batches are made; defaults are MDM's.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub batch_size: usize,
    /// Rows every batch is padded to.
    pub max_rows: usize,
    /// Crop lengths are multiples of this.
    pub unit: usize,
    pub seed: u64,
    /// Drop a last, smaller batch.
    pub drop_last: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            max_rows: 196,
            unit: 4,
            seed: 0,
            drop_last: true,
        }
    }
}

/// A batch on the CPU.
#[derive(Debug)]
pub struct Batch {
    /// `[B, max_rows, 263]` normalised rows, zero after each length.
    pub motions: Tensor,
    /// True row counts `[B]`.
    pub lengths: Vec<i64>,
    /// One caption per sample, drawn at random from its captions.
    pub captions: Vec<String>,
    pub names: Vec<String>,
}

/// The batches of one epoch, in order.
pub struct Batches<'a> {
    data: &'a Dataset,
    opts: BatchOptions,
    order: Vec<usize>,
    next: usize,
    rng: ChaCha8Rng,
}

impl Dataset {
    /// Epoch `epoch`'s batches (shuffled by seed and epoch).
    pub fn batches(&self, opts: &BatchOptions, epoch: u64) -> Batches<'_> {
        let mut rng = ChaCha8Rng::seed_from_u64(
            opts.seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        order.shuffle(&mut rng);
        Batches {
            data: self,
            opts: opts.clone(),
            order,
            next: 0,
            rng,
        }
    }
}

impl Batches<'_> {
    /// Number of batches this epoch yields in all.
    pub fn len(&self) -> usize {
        let (n, b) = (self.order.len(), self.opts.batch_size.max(1));
        if self.opts.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Crop length for a clip of `rows` rows: MDM draws "single" twice as often as "double".
    fn crop_len(&mut self, rows: usize) -> usize {
        let u = self.opts.unit.max(1);
        let double = self.rng.random_range(0..3) == 2;
        let units = if double {
            (rows / u).saturating_sub(1).max(1)
        } else {
            rows / u
        };
        (units * u).clamp(1, rows.min(self.opts.max_rows))
    }
}

/// Which rows of which samples make one batch: drawn in order from the epoch's RNG stream (cheap),
/// so that the copying ([`Dataset::materialize`]) can run on other threads without changing
/// what any batch holds.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// Per sample: (sample index, first row, rows, caption index).
    pub items: Vec<(usize, usize, usize, usize)>,
    pub max_rows: usize,
}

impl BatchPlan {
    /// Frames of the longest clip.
    pub fn longest(&self) -> usize {
        self.items.iter().map(|it| it.2).max().unwrap_or(1)
    }

    /// Rank `rank`'s share among `world` ranks of a data-parallel run: the `rank`-th contiguous
    /// slice of `B / world` samples. The ranks draw the same global plan (one RNG stream) and
    /// copy only their slice, so the union of the shards is the batch and no sample repeats
    /// within an epoch. `world` must divide B (the trainer checks batch_size).
    pub fn shard(&self, rank: usize, world: usize) -> BatchPlan {
        let n = self.items.len() / world.max(1);
        BatchPlan {
            items: self.items[rank * n..(rank + 1) * n].to_vec(),
            max_rows: self.max_rows,
        }
    }
}

impl Batches<'_> {
    /// The next batch's plan, or None at the end of the epoch.
    pub fn next_plan(&mut self) -> Option<BatchPlan> {
        let remaining = self.order.len() - self.next;
        let b = self.opts.batch_size.max(1).min(remaining);
        if b == 0 || (self.opts.drop_last && b < self.opts.batch_size) {
            return None;
        }
        let d = FEATURE_DIM;
        let mut items = Vec::with_capacity(b);
        for i in 0..b {
            let index = self.order[self.next + i];
            let sample = &self.data.samples[index];
            let n = self.data.sample_rows(sample).len() / d;
            let len = self.crop_len(n);
            let start = self.rng.random_range(0..=n - len);
            let cap = self.rng.random_range(0..sample.captions.len());
            items.push((index, start, len, cap));
        }
        self.next += b;
        Some(BatchPlan {
            items,
            max_rows: self.opts.max_rows,
        })
    }
}

impl Dataset {
    /// Copies and z-normalises the rows a plan names into a padded batch.
    pub fn materialize(&self, plan: &BatchPlan) -> Batch {
        let (d, max_rows, b) = (FEATURE_DIM, plan.max_rows, plan.items.len());
        let mut buf = vec![0f32; b * max_rows * d];
        let (mut lengths, mut captions, mut names) = (Vec::new(), Vec::new(), Vec::new());
        let norm = &self.normalization;
        for (i, &(index, start, len, cap)) in plan.items.iter().enumerate() {
            let sample = &self.samples[index];
            let rows = self.sample_rows(sample);
            for r in 0..len {
                let src = &rows[(start + r) * d..(start + r + 1) * d];
                let dst = &mut buf[(i * max_rows + r) * d..(i * max_rows + r + 1) * d];
                for k in 0..d {
                    dst[k] = (src[k] - norm.mean[k]) / norm.std[k];
                }
            }
            lengths.push(len as i64);
            captions.push(sample.captions[cap].caption.clone());
            names.push(sample.name.clone());
        }
        let motions = Tensor::from_slice(&buf)
            .reshape([b as i64, max_rows as i64, d as i64])
            .to_kind(Kind::Float);
        Batch {
            motions,
            lengths,
            captions,
            names,
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let plan = self.next_plan()?;
        Some(self.data.materialize(&plan))
    }
}
