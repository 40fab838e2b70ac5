//! Deterministic synthetic motions for tests.

use tch::{Device, Kind, Tensor};

use crate::rotation::rotate_y;
use crate::skeleton::tpose;

/// The T-pose repeated for `frames` frames, `[frames, 22, 3]` float64.
pub fn tpose_clip(frames: i64) -> Tensor {
    let p: Vec<f64> = tpose().iter().flatten().copied().collect();
    Tensor::from_slice(&p)
        .reshape([1, 22, 3])
        .repeat([frames, 1, 1])
}

/// A deterministic wiggly motion: T-pose bones swung by sinusoids, walking and turning `turns` times.
pub fn wiggle(frames: i64, turns: f64, seed: u64) -> Tensor {
    let t = Tensor::arange(frames, (Kind::Double, Device::Cpu)).view([-1, 1, 1]);
    let base = tpose_clip(frames);
    let phase = Tensor::from_slice(
        &(0..66)
            .map(|i| ((i as u64 * 7 + seed) % 13) as f64)
            .collect::<Vec<_>>(),
    )
    .reshape([1, 22, 3]);
    let wobble = ((&t * 0.2 + &phase).sin() * 0.05).to_kind(Kind::Double);
    let yaw = &t * (turns * 2.0 * std::f64::consts::PI / frames as f64);
    let body = rotate_y(&(base + wobble), &yaw.view([-1, 1]));
    let drift = Tensor::cat(&[&t * 0.03, t.zeros_like(), (&t * 0.1).sin()], -1);
    body + drift
}
