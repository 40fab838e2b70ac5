//! Padded frames of a batch. Training batches pad every clip to the longest one (on average ~40%
//! of the frames of a 40..196-frame batch are padding); the attention masks them, and when the real
//! lengths are known on the host the token-wise work (projections, layer norms, feed-forward: most
//! of the FLOPs) runs on the real tokens only, packed into one `[R, d]` matrix. Outputs at real
//! frames are the same either way (tested); outputs at padded frames mean nothing either way.

use std::cell::OnceCell;

use tch::{Device, Tensor};

/// Which frames are padding.
#[derive(Debug)]
pub struct Padding {
    /// `[B, N]`, true on padded frames.
    pub mask: Tensor,
    /// Real frames per clip, when known on the host (enables packing).
    lengths: Option<Vec<i64>>,
    /// The first packing built (with its lead), reused by later calls: a sampling walk calls the
    /// model on one padding at every step, and each build is a host-to-device copy that waits for
    /// the device.
    packing: OnceCell<(i64, Option<Packing>)>,
    /// [`Self::twice`], made on first use (classifier-free guidance doubles every step's batch).
    doubled: OnceCell<Box<Padding>>,
}

impl Padding {
    fn new(mask: Tensor, lengths: Option<Vec<i64>>) -> Self {
        Self {
            mask,
            lengths,
            packing: OnceCell::new(),
            doubled: OnceCell::new(),
        }
    }

    /// From a mask alone: attention skips padded keys, nothing is packed.
    pub fn from_mask(mask: Tensor) -> Self {
        Self::new(mask, None)
    }

    /// Clip `b` has its first `lengths[b]` of `n` frames real; built on the host, so packing needs
    /// no device-to-host sync.
    pub fn from_lengths(lengths: &[i64], n: i64, device: Device) -> Self {
        let flags: Vec<bool> = lengths
            .iter()
            .flat_map(|&l| (0..n).map(move |i| i >= l))
            .collect();
        let mask = kernels::cuda::upload(
            &Tensor::from_slice(&flags).view([lengths.len() as i64, n]),
            device,
        );
        Self::new(mask, Some(lengths.to_vec()))
    }

    /// The same padding, masked in attention only (every token through every layer).
    pub fn without_packing(&self) -> Self {
        Self::from_mask(self.mask.shallow_clone())
    }

    /// Mask `[2B, N]` (and lengths) of the batch repeated twice (classifier-free guidance).
    pub fn twice(&self) -> Self {
        Self::new(
            Tensor::cat(&[&self.mask, &self.mask], 0),
            self.lengths.as_ref().map(|l| [l.as_slice(), l].concat()),
        )
    }

    /// [`Self::twice`], made on the first call and kept (with its packing) for later calls.
    pub fn doubled(&self) -> &Padding {
        self.doubled.get_or_init(|| Box::new(self.twice()))
    }

    /// The packing of a token sequence made of `lead` always-real tokens followed by the frames,
    /// or None when lengths are unknown or nothing is padded. Built once per padding (and lead).
    pub(crate) fn packing(&self, lead: i64) -> Option<Packing> {
        let (built_for, packing) = self
            .packing
            .get_or_init(|| (lead, self.build_packing(lead)));
        if *built_for == lead {
            packing.as_ref().map(Packing::shallow_clone)
        } else {
            self.build_packing(lead)
        }
    }

    fn build_packing(&self, lead: i64) -> Option<Packing> {
        let lengths = self.lengths.as_ref()?;
        let n = self.mask.size()[1];
        if lengths.iter().all(|&l| l >= n) {
            return None;
        }
        let per = n + lead;
        let real: Vec<i64> = lengths
            .iter()
            .enumerate()
            .flat_map(|(b, &l)| (0..lead + l.min(n)).map(move |i| b as i64 * per + i))
            .collect();
        Some(Packing {
            real: kernels::cuda::upload(&Tensor::from_slice(&real), self.mask.device()),
            batch: lengths.len() as i64,
            tokens: per,
        })
    }
}

/// Flat indices of the real tokens of a `[B, tokens, C]` batch.
#[derive(Debug)]
pub(crate) struct Packing {
    real: Tensor,
    batch: i64,
    tokens: i64,
}

/// `[R, C]` -> `[B, N, C]` when packed; otherwise `x` as it is.
pub(crate) fn unpacked(packing: Option<&Packing>, x: Tensor) -> Tensor {
    match packing {
        Some(p) => p.unpack(&x),
        None => x,
    }
}

/// `[B, N, C]` -> `[R, C]` when packed; otherwise `x` as it is.
pub(crate) fn packed(packing: Option<&Packing>, x: Tensor) -> Tensor {
    match packing {
        Some(p) => p.pack(&x),
        None => x,
    }
}

impl Packing {
    fn shallow_clone(&self) -> Self {
        Self {
            real: self.real.shallow_clone(),
            batch: self.batch,
            tokens: self.tokens,
        }
    }

    /// `[B, tokens, C]` -> `[R, C]`.
    pub fn pack(&self, x: &Tensor) -> Tensor {
        let c = *x.size().last().expect("[B, N, C]");
        x.reshape([self.batch * self.tokens, c])
            .index_select(0, &self.real)
    }

    /// `[R, C]` -> `[B, tokens, C]`, zeros at padded tokens.
    pub fn unpack(&self, x: &Tensor) -> Tensor {
        let c = *x.size().last().expect("[R, C]");
        Tensor::zeros([self.batch * self.tokens, c], (x.kind(), x.device()))
            .index_copy(0, &self.real, x)
            .view([self.batch, self.tokens, c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn packs_real_tokens_and_unpacks_with_zeros() {
        let p = Padding::from_lengths(&[2, 3], 3, Device::Cpu);
        assert_eq!(
            Vec::<bool>::try_from(p.mask.flatten(0, 1)).unwrap(),
            [false, false, true, false, false, false]
        );
        let packing = p.packing(1).unwrap(); // one lead token: 4 tokens per clip
        let x = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([2, 4, 1]);
        let packed = packing.pack(&x);
        assert_eq!(
            Vec::<f32>::try_from(packed.flatten(0, 1)).unwrap(),
            [0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0]
        );
        let back = packing.unpack(&packed);
        assert_eq!(
            Vec::<f32>::try_from(back.flatten(0, 2)).unwrap(),
            [0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 6.0, 7.0]
        );
        assert!(Padding::from_lengths(&[3, 3], 3, Device::Cpu)
            .packing(1)
            .is_none());
        assert!(Padding::from_mask(p.mask.copy()).packing(0).is_none());
    }
}
