//! The radial block rule (design radial-attention.md, section 1) and its layouts.
//!
//! Tokens are grouped in blocks of `block` tokens. Query block `qb` keeps key block `kb` when
//! `d = |qb - kb| <= W0` (dense core), when `kb == 0` (attention sink, which also holds condition
//! tokens), or when `kb % 2^(r+1) == 0` with `r = floor(log2(d / W0)) / decay`: each band is twice
//! as wide and half as dense as the one before (with `decay = 1`), so a row keeps O(log n) blocks.
//! The rule is static: one layout per (number of blocks, rule), shared by all heads, layers and steps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tch::{Device, Kind, Tensor};

/// The block-level rule's two knobs (see [`crate::RadialConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRule {
    /// W0: the dense local band's half-width, in blocks (>= 1).
    pub dense_core: usize,
    /// Band growth: band r covers distances W0 * 2^(decay*r) .. W0 * 2^(decay*(r+1)); 1 is the
    /// paper's halving of density per doubling of distance, larger values keep more blocks.
    pub decay: u32,
}

impl BlockRule {
    /// Whether query block `qb` attends to key block `kb`.
    pub fn keeps(&self, qb: usize, kb: usize) -> bool {
        let d = qb.abs_diff(kb);
        if d <= self.dense_core || kb == 0 {
            return true;
        }
        // floor(log2(d / W0)) == floor(log2(floor(d / W0))) for d / W0 >= 1: exact in integers.
        let r = (d / self.dense_core).ilog2() / self.decay;
        // r < usize::BITS - 1 since d < 2^63; the shift cannot overflow.
        kb % (1usize << (r + 1)) == 0
    }

    /// The most blocks a row keeps with `decay = 1` (design section 1):
    /// 2*W0 + 2 + 2*ceil(W0/2)*(floor(log2(nb/W0)) + 1).
    pub fn row_bound(&self, nb: usize) -> usize {
        let w0 = self.dense_core;
        let bands = if nb >= w0 {
            (nb / w0).ilog2() as usize + 1
        } else {
            1
        };
        2 * w0 + 2 + 2 * w0.div_ceil(2) * bands
    }
}

/// Block layout in CSR form: `row_ptr [nb + 1]`, `col_idx [nnz]` (sorted within each row).
/// Built for query rows over key columns; [`BlockLayout::transpose`] gives, per key block, the query
/// blocks that read it (what a backward pass over keys walks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLayout {
    /// Number of blocks on each side.
    pub nb: usize,
    /// `[nb + 1]`: row `i` holds `col_idx[row_ptr[i]..row_ptr[i + 1]]`.
    pub row_ptr: Vec<i32>,
    /// `[nnz]`: kept column blocks, ascending within a row.
    pub col_idx: Vec<i32>,
}

impl BlockLayout {
    /// The rule's layout over `nb` blocks (`nb < 2^31`: indices are int32 for the kernels).
    pub fn build(nb: usize, rule: BlockRule) -> Self {
        let mut row_ptr = Vec::with_capacity(nb + 1);
        let mut col_idx = Vec::new();
        row_ptr.push(0);
        for qb in 0..nb {
            col_idx.extend((0..nb).filter(|&kb| rule.keeps(qb, kb)).map(|kb| kb as i32));
            row_ptr.push(col_idx.len() as i32);
        }
        Self {
            nb,
            row_ptr,
            col_idx,
        }
    }

    /// Kept column blocks of row `i`.
    pub fn row(&self, i: usize) -> &[i32] {
        &self.col_idx[self.row_ptr[i] as usize..self.row_ptr[i + 1] as usize]
    }

    /// Number of kept blocks.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Kept blocks over all nb^2 blocks.
    pub fn density(&self) -> f64 {
        self.nnz() as f64 / (self.nb * self.nb) as f64
    }

    /// The longest row.
    pub fn max_row(&self) -> usize {
        (0..self.nb).map(|i| self.row(i).len()).max().unwrap_or(0)
    }

    /// Row indices, longest row first (ties in ascending order): the order in which the fused
    /// kernels take query blocks. Blocks are dispatched to SMs in launch order, so scheduling the
    /// longest first leaves the short ones for the end, where they fill the last gaps (Graham's
    /// LPT rule; at 16k tokens it cuts the simulated per-SM maximum from 67 to 64 tiles against
    /// an ideal 62).
    pub fn longest_first(&self) -> Vec<i32> {
        let mut order: Vec<i32> = (0..self.nb as i32).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.row(i as usize).len()));
        order
    }

    /// The transposed layout (rows become columns), still sorted within each row.
    pub fn transpose(&self) -> Self {
        let mut counts = vec![0i32; self.nb + 1];
        for &c in &self.col_idx {
            counts[c as usize + 1] += 1;
        }
        for i in 0..self.nb {
            counts[i + 1] += counts[i];
        }
        let row_ptr = counts.clone();
        let mut next = counts;
        let mut col_idx = vec![0i32; self.nnz()];
        // Rows visited in ascending order, so each transposed row fills in ascending order.
        for i in 0..self.nb {
            for &c in self.row(i) {
                col_idx[next[c as usize] as usize] = i as i32;
                next[c as usize] += 1;
            }
        }
        Self {
            nb: self.nb,
            row_ptr,
            col_idx,
        }
    }

    /// Block mask `[nb, nb]` bool on the CPU (true = kept).
    pub fn block_mask(&self) -> Tensor {
        let mut dense = vec![false; self.nb * self.nb];
        for i in 0..self.nb {
            for &c in self.row(i) {
                dense[i * self.nb + c as usize] = true;
            }
        }
        Tensor::from_slice(&dense).view([self.nb as i64, self.nb as i64])
    }

    /// Token mask `[t, t]` bool on `device` (true = attend) for blocks of `block` tokens; the first
    /// `cond` tokens (condition tokens, inside the sink block) attend to everything.
    pub fn token_mask(&self, block: usize, t: usize, cond: usize, device: Device) -> Tensor {
        let (bl, t) = (block as i64, t as i64);
        let tokens = self
            .block_mask()
            .to_device(device)
            .repeat_interleave_self_int(bl, 0, None)
            .repeat_interleave_self_int(bl, 1, None)
            .narrow(0, 0, t)
            .narrow(1, 0, t); // [t, t]
        let rows = Tensor::arange(t, (Kind::Int64, device)).lt(cond as i64); // [t]
        tokens.logical_or(&rows.unsqueeze(1)) // cond rows see every key
    }
}

/// A layout's tensors on one device, for the gather and fused backends.
#[derive(Debug)]
pub struct DeviceLayout {
    /// The host layout.
    pub host: BlockLayout,
    /// `[nb + 1]` int32.
    pub row_ptr: Tensor,
    /// `[nnz]` int32.
    pub col_idx: Tensor,
    /// `[nb]` int32: [`BlockLayout::longest_first`], the fused kernels' query block order.
    pub order: Tensor,
    /// Longest row R: rows are padded to R slots for the block-gather path.
    pub max_row: usize,
    /// `[nb * R]` int64: row i's kept blocks, padded with block 0 (masked by `slot_valid`).
    pub gather_idx: Tensor,
    /// `[nb, R]` bool: true where a slot holds a kept block.
    pub slot_valid: Tensor,
}

// SAFETY: the tensors are written once in `new` and only read afterwards (as index and mask
// operands, or by pointer in the fused kernel); libtorch allows concurrent reads of a tensor.
unsafe impl Sync for DeviceLayout {}

impl DeviceLayout {
    fn new(host: BlockLayout, device: Device) -> Self {
        let r = host.max_row();
        let mut idx = vec![0i64; host.nb * r];
        let mut valid = vec![false; host.nb * r];
        for i in 0..host.nb {
            for (s, &c) in host.row(i).iter().enumerate() {
                idx[i * r + s] = c as i64;
                valid[i * r + s] = true;
            }
        }
        let shape = [host.nb as i64, r as i64];
        Self {
            row_ptr: Tensor::from_slice(&host.row_ptr).to_device(device),
            col_idx: Tensor::from_slice(&host.col_idx).to_device(device),
            order: Tensor::from_slice(&host.longest_first()).to_device(device),
            max_row: r,
            gather_idx: Tensor::from_slice(&idx).to_device(device),
            slot_valid: Tensor::from_slice(&valid).view(shape).to_device(device),
            host,
        }
    }
}

/// Layouts built once per (blocks, rule, device) and kept for the life of the cache.
#[derive(Debug, Default)]
pub struct LayoutCache {
    map: Mutex<HashMap<(usize, BlockRule, Device), Arc<DeviceLayout>>>,
}

impl LayoutCache {
    /// The layout of `nb` blocks under `rule` on `device`, built on first use.
    pub fn get(&self, nb: usize, rule: BlockRule, device: Device) -> Arc<DeviceLayout> {
        // A poisoned lock only means another thread panicked mid-insert of a complete value.
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((nb, rule, device))
            .or_insert_with(|| Arc::new(DeviceLayout::new(BlockLayout::build(nb, rule), device)))
            .clone()
    }

    /// Number of cached layouts.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: BlockRule = BlockRule {
        dense_core: 1,
        decay: 1,
    };

    #[test]
    fn rows_non_empty_with_sink_and_core() {
        for w0 in 1..=4 {
            let rule = BlockRule {
                dense_core: w0,
                decay: 1,
            };
            for nb in [1, 2, 5, 33, 100] {
                let l = BlockLayout::build(nb, rule);
                for i in 0..nb {
                    let row = l.row(i);
                    assert!(!row.is_empty(), "nb {nb} row {i}");
                    assert_eq!(row[0], 0, "sink missing: nb {nb} row {i}");
                    assert!(row.windows(2).all(|w| w[0] < w[1]), "unsorted row {i}");
                    for j in i.saturating_sub(w0)..(i + w0 + 1).min(nb) {
                        assert!(
                            row.contains(&(j as i32)),
                            "core block {j} missing in row {i}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn longest_first_is_a_permutation_by_descending_length() {
        for nb in [1, 2, 7, 128, 300] {
            let l = BlockLayout::build(nb, PAPER);
            let order = l.longest_first();
            let mut seen = order.clone();
            seen.sort();
            assert_eq!(seen, (0..nb as i32).collect::<Vec<_>>(), "nb {nb}");
            for w in order.windows(2) {
                let (a, b) = (l.row(w[0] as usize).len(), l.row(w[1] as usize).len());
                assert!(a > b || (a == b && w[0] < w[1]), "nb {nb}: {w:?}");
            }
        }
    }

    /// The doc comment's claim: 16k tokens (128 blocks) x 8 heads, heads one after another, each
    /// query block taken by the first of 132 SMs to come free, cost = row length in tiles.
    #[test]
    fn longest_first_shortens_the_greedy_schedule() {
        let l = BlockLayout::build(128, PAPER);
        let makespan = |rows: &[i32]| {
            let mut sms = vec![0usize; 132];
            for _head in 0..8 {
                for &r in rows {
                    let free = (0..sms.len()).min_by_key(|&i| sms[i]).unwrap();
                    sms[free] += l.row(r as usize).len();
                }
            }
            *sms.iter().max().unwrap()
        };
        let natural: Vec<i32> = (0..128).collect();
        assert_eq!(makespan(&natural), 67);
        assert_eq!(makespan(&l.longest_first()), 64);
        assert_eq!(l.nnz() * 8, 8192); // 8192 / 132 = 62.06: the ideal
    }

    #[test]
    fn a_key_block_is_seen_alike_from_both_sides() {
        // The rule depends on the distance and the key block only: symmetric in qb around kb.
        for rule in [
            PAPER,
            BlockRule {
                dense_core: 3,
                decay: 2,
            },
        ] {
            for kb in 0..200 {
                for d in 0..=kb {
                    assert_eq!(
                        rule.keeps(kb + d, kb),
                        rule.keeps(kb - d, kb),
                        "kb {kb} d {d}"
                    );
                }
            }
        }
    }

    #[test]
    fn row_counts_within_the_log_bound() {
        for w0 in 1..=16 {
            let rule = BlockRule {
                dense_core: w0,
                decay: 1,
            };
            for nb in (1..700).step_by(7) {
                let bound = rule.row_bound(nb);
                for qb in 0..nb {
                    let kept = (0..nb).filter(|&kb| rule.keeps(qb, kb)).count();
                    assert!(kept <= bound, "w0 {w0} nb {nb} row {qb}: {kept} > {bound}");
                }
            }
        }
    }

    #[test]
    fn densities_match_the_design() {
        for (tokens, want) in [(4096, 0.1875), (16384, 0.0625), (65536, 0.0195)] {
            let l = BlockLayout::build(tokens / 128, PAPER);
            assert!(
                (l.density() - want).abs() < 5e-5,
                "{tokens}: {}",
                l.density()
            );
        }
    }

    #[test]
    fn decay_keeps_more_blocks() {
        let tight = BlockLayout::build(256, PAPER).nnz();
        let wide = BlockLayout::build(
            256,
            BlockRule {
                dense_core: 1,
                decay: 2,
            },
        )
        .nnz();
        assert!(wide > tight, "{wide} <= {tight}");
    }

    #[test]
    fn transpose_is_the_dense_transpose() {
        let l = BlockLayout::build(
            45,
            BlockRule {
                dense_core: 2,
                decay: 1,
            },
        );
        let t = l.transpose();
        assert_eq!(t.nnz(), l.nnz());
        assert!(t.block_mask().equal(&l.block_mask().tr()));
        assert!((0..t.nb).all(|i| t.row(i).windows(2).all(|w| w[0] < w[1])));
        assert_eq!(t.transpose(), l);
    }

    #[test]
    fn token_mask_expands_blocks_and_keeps_condition_rows_dense() {
        let (block, t, cond) = (4usize, 30usize, 2usize);
        let l = BlockLayout::build(t.div_ceil(block), PAPER);
        let m = l.token_mask(block, t, cond, Device::Cpu);
        assert_eq!(m.size(), [30, 30]);
        for i in 0..t {
            for j in 0..t {
                let want = i < cond || PAPER.keeps(i / block, j / block);
                assert_eq!(
                    m.int64_value(&[i as i64, j as i64]) != 0,
                    want,
                    "({i}, {j})"
                );
            }
        }
    }

    #[test]
    fn cache_builds_once_per_key() {
        let cache = LayoutCache::default();
        let a = cache.get(10, PAPER, Device::Cpu);
        let b = cache.get(10, PAPER, Device::Cpu);
        assert!(Arc::ptr_eq(&a, &b));
        let _ = cache.get(11, PAPER, Device::Cpu);
        assert_eq!(cache.len(), 2);
        assert_eq!(a.slot_valid.size(), [10, a.max_row as i64]);
        let kept = i64::try_from(a.slot_valid.sum(Kind::Int64)).unwrap();
        assert_eq!(kept as usize, a.host.nnz());
    }
}
