//! Data-parallel training's view of the other ranks: an all-reduce and a broadcast over tensors,
//! whatever carries them. [`Solo`] is one process alone; [`LocalGroup`] is ranks as threads of one
//! process on the CPU (what tests use to check that sharded training equals one process with the
//! global batch); NCCL carries them between GPUs (`train::nccl`, behind the same trait).

use std::sync::{Arc, Barrier, Mutex};

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The ranks of a data-parallel run, seen from one of them. Every rank must make the same calls in
/// the same order with tensors of the same shape and kind (a collective waits for all ranks).
pub trait Collective: Send + Sync {
    /// This rank, `0..world`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn world(&self) -> usize;
    /// In place: `t` becomes the element-wise mean of every rank's `t`.
    fn all_reduce_mean(&self, t: &Tensor) -> Result<()>;
    /// In place: `t` becomes the element-wise maximum of every rank's `t`.
    fn all_reduce_max(&self, t: &Tensor) -> Result<()>;
    /// In place: every rank's `t` becomes rank `root`'s.
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()>;
}

/// One process, no peers: every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn all_reduce_mean(&self, _t: &Tensor) -> Result<()> {
        Ok(())
    }
    fn all_reduce_max(&self, _t: &Tensor) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _t: &Tensor, _root: usize) -> Result<()> {
        Ok(())
    }
}

/// Refuses the run unless every rank holds the same `fingerprint` (of its configuration), so that
/// ranks started with different configs stop at once with a message instead of training apart.
pub fn check_same_config(
    group: &dyn Collective,
    fingerprint: u64,
    device: tch::Device,
) -> Result<()> {
    // max(h) == h and max(!h) == !h on every rank exactly when all ranks hold the same h.
    let mine = [fingerprint as i64, !fingerprint as i64];
    let t = Tensor::from_slice(&mine).to_device(device);
    group.all_reduce_max(&t)?;
    let max =
        Vec::<i64>::try_from(t.to_device(tch::Device::Cpu)).map_err(|source| Error::Torch {
            context: "reading the config check".into(),
            source,
        })?;
    if max != mine {
        return Err(Error::Invalid(format!(
            "rank {} of {}: the ranks were started with different training configs or data \
             (fingerprint {fingerprint:016x}); start every rank with the same --config, --data and flags",
            group.rank(),
            group.world()
        )));
    }
    Ok(())
}

/// FNV-1a, 64 bits: a fingerprint that is the same on every machine and build (std's hasher is not
/// promised to be).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Ranks as threads of one process (CPU tensors): each collective adds every rank's tensor into a
/// shared buffer between barriers. For tests and CPU experiments; GPUs use NCCL.
pub struct LocalGroup {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    world: usize,
    barrier: Barrier,
    buffer: Mutex<Option<Tensor>>,
}

impl LocalGroup {
    /// One handle per rank, to move into that rank's thread.
    pub fn new(world: usize) -> Vec<LocalGroup> {
        let shared = Arc::new(Shared {
            world,
            barrier: Barrier::new(world),
            buffer: Mutex::new(None),
        });
        (0..world)
            .map(|rank| LocalGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Runs one collective: `fold(acc, mine)` combines contributions into the shared buffer (the
    /// first rank to arrive seeds it with `seed(mine)`), then every rank reads `finish(acc)` into `t`.
    fn collect(
        &self,
        t: &Tensor,
        seed: impl Fn(&Tensor) -> Option<Tensor>,
        fold: impl Fn(&Tensor, &Tensor),
        finish: impl Fn(&Tensor) -> Tensor,
    ) -> Result<()> {
        let lock = || {
            self.shared
                .buffer
                .lock()
                .map_err(|_| Error::Invalid("a rank thread panicked mid-collective".into()))
        };
        {
            let mut buffer = lock()?;
            match buffer.as_ref() {
                None => *buffer = seed(t),
                Some(acc) => fold(acc, t),
            }
        }
        self.shared.barrier.wait();
        {
            let buffer = lock()?;
            if let Some(acc) = buffer.as_ref() {
                t.shallow_clone().copy_(&finish(acc));
            }
        }
        // Nobody clears the buffer before every rank has read it.
        if self.shared.barrier.wait().is_leader() {
            *lock()? = None;
        }
        self.shared.barrier.wait();
        Ok(())
    }
}

impl Collective for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.shared.world
    }
    fn all_reduce_mean(&self, t: &Tensor) -> Result<()> {
        let world = self.shared.world as f64;
        self.collect(
            t,
            |mine| Some(mine.to_kind(Kind::Double)),
            |acc, mine| {
                let _ = acc.shallow_clone().g_add_(&mine.to_kind(Kind::Double));
            },
            |acc| (acc / world).to_kind(t.kind()),
        )
    }
    fn all_reduce_max(&self, t: &Tensor) -> Result<()> {
        self.collect(
            t,
            |mine| Some(mine.copy()),
            |acc, mine| {
                acc.shallow_clone().copy_(&acc.maximum(mine));
            },
            |acc| acc.shallow_clone(),
        )
    }
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        let me = self.rank;
        // Only the root contributes; it may arrive after others, so seed and fold both take it.
        self.collect(
            t,
            |mine| (me == root).then(|| mine.copy()),
            |acc, mine| {
                if me == root {
                    acc.shallow_clone().copy_(mine);
                }
            },
            |acc| acc.shallow_clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_ranks<T: Send + 'static>(
        world: usize,
        body: impl Fn(LocalGroup) -> T + Send + Sync + Clone + 'static,
    ) -> Vec<T> {
        let handles: Vec<_> = LocalGroup::new(world)
            .into_iter()
            .map(|g| {
                let body = body.clone();
                std::thread::spawn(move || body(g))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn local_group_means_maxes_and_broadcasts() {
        let out = on_ranks(3, |g| {
            let r = g.rank() as f32;
            let mean = Tensor::from_slice(&[r, 10.0 * r]);
            g.all_reduce_mean(&mean).unwrap();
            let max = Tensor::from_slice(&[r, -r]);
            g.all_reduce_max(&max).unwrap();
            let b = Tensor::from_slice(&[r + 100.0]);
            g.broadcast(&b, 2).unwrap();
            (
                Vec::<f32>::try_from(mean).unwrap(),
                Vec::<f32>::try_from(max).unwrap(),
                Vec::<f32>::try_from(b).unwrap(),
            )
        });
        for (mean, max, b) in out {
            assert_eq!(mean, vec![1.0, 10.0]);
            assert_eq!(max, vec![2.0, 0.0]);
            assert_eq!(b, vec![102.0]);
        }
    }

    #[test]
    fn ranks_with_different_configs_are_refused_on_every_rank() {
        let same = on_ranks(2, |g| check_same_config(&g, 42, tch::Device::Cpu).is_ok());
        assert_eq!(same, vec![true, true]);
        let differ = on_ranks(2, |g| {
            let print = if g.rank() == 0 { 42 } else { 43 };
            check_same_config(&g, print, tch::Device::Cpu)
                .unwrap_err()
                .to_string()
        });
        for (rank, e) in differ.iter().enumerate() {
            assert!(e.contains(&format!("rank {rank} of 2")), "{e}");
            assert!(e.contains("different training configs"), "{e}");
        }
    }

    #[test]
    fn fingerprint_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fingerprint(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fingerprint(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
