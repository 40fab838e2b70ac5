//! Parity with the reference fixtures, round trips, analytic recoveries and gradients.

use super::*;
use crate::npy::read_tensor;
use crate::test_motion::{tpose_clip, wiggle};
use std::path::PathBuf;
use tch::Device;

const FIXTURES: [&str; 5] = [
    "tpose",
    "left_wrist_rise",
    "walk_forward",
    "random_a",
    "random_b",
];

fn fixture(name: &str, what: &str) -> Tensor {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    read_tensor(&dir.join(format!("{name}.{what}.npy")))
        .expect("the shared fixtures sit at ../shared beside the repo")
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn features_match_the_reference_fixtures() {
    for name in FIXTURES {
        let ours = features_from_joints(&fixture(name, "joints")).unwrap();
        let want = fixture(name, "features");
        let core = |t: &Tensor| Tensor::cat(&[t.narrow(-1, 0, 67), t.narrow(-1, 193, 70)], -1);
        let err = max_abs(&core(&ours), &core(&want));
        assert!(err < 1e-5, "{name}: dims 0-66, 193-262 differ by {err}");
        let rot_err = max_abs(&ours.narrow(-1, 67, 126), &want.narrow(-1, 67, 126));
        assert!(rot_err < 1e-3, "{name}: 6D rotations differ by {rot_err}");
    }
}

#[test]
fn recovery_matches_the_reference_fixtures() {
    for name in FIXTURES {
        let want = fixture(name, "recovered");
        let from_theirs = joints_from_features(&fixture(name, "features")).unwrap();
        assert!(
            max_abs(&from_theirs, &want) < 1e-4,
            "{name}: recover(their features)"
        );
        let from_ours =
            joints_from_features(&features_from_joints(&fixture(name, "joints")).unwrap()).unwrap();
        assert!(
            max_abs(&from_ours, &want) < 1e-4,
            "{name}: recover(our features)"
        );
    }
}

#[test]
fn round_trip_is_exact_on_turning_motions() {
    // Up to three full turns, so the heading passes 180 degrees several times.
    for (turns, seed) in [(0.0, 1), (0.7, 2), (-1.3, 3), (3.0, 4)] {
        let j = wiggle(120, turns, seed);
        let back = joints_from_features(&features_from_joints(&j).unwrap()).unwrap();
        let canon = canonicalize(&j).unwrap().narrow(0, 0, 119);
        let err = max_abs(&back, &canon);
        assert!(err < 1e-9, "turns {turns}: round-trip error {err} m");
    }
}

#[test]
fn canonical_placement_puts_frame_zero_at_the_origin_facing_z_on_the_floor() {
    let j = wiggle(30, 0.5, 9) + Tensor::from_slice(&[3.0, 0.4, -2.0]);
    let j = rotate_y(&j, &Tensor::from(2.0f64));
    let c = canonicalize(&j).unwrap();
    assert!(
        c.select(-1, 1).min().double_value(&[]).abs() < 1e-12,
        "floor at y = 0"
    );
    let root0 = c.get(0).get(0);
    assert!(
        root0.select(0, 0).double_value(&[]).abs() < 1e-12
            && root0.select(0, 2).double_value(&[]).abs() < 1e-12
    );
    assert!(
        heading(&c.narrow(0, 0, 1)).double_value(&[0]).abs() < 1e-12,
        "frame 0 faces +Z"
    );
}

#[test]
fn features_ignore_where_and_which_way_the_clip_starts() {
    let j = wiggle(50, 0.4, 5);
    let moved = rotate_y(&j, &Tensor::from(-2.5f64)) + Tensor::from_slice(&[-4.0, 1.0, 7.0]);
    let err = max_abs(
        &features_from_joints(&j).unwrap(),
        &features_from_joints(&moved).unwrap(),
    );
    assert!(err < 1e-9, "{err}");
}

#[test]
fn static_tpose_has_zero_velocities_and_contacts_on() {
    let f = features_from_joints(&tpose_clip(10)).unwrap();
    assert_eq!(f.size(), vec![9, 263]);
    assert!(f.narrow(-1, 0, 3).abs().max().double_value(&[]) < 1e-12);
    assert!(f.narrow(-1, 193, 66).abs().max().double_value(&[]) < 1e-12);
    assert!(f.narrow(-1, 259, 4).min().double_value(&[]) == 1.0);
    // 6D rotations are finite even for bones antiparallel to their rest direction.
    let up = tpose_clip(4);
    up.narrow(1, 20, 1)
        .copy_(&(up.narrow(1, 18, 1) + Tensor::from_slice(&[0.0, 0.25, 0.0])));
    assert!(bool::try_from(features_from_joints(&up).unwrap().isfinite().all()).unwrap());
}

#[test]
fn recovery_of_analytic_motions_is_exact() {
    // Walk straight ahead at 5 cm a row: root z grows linearly, x stays 0, height from dim 3.
    let rows = 20;
    let f = Tensor::zeros([rows, 263], (Kind::Double, Device::Cpu));
    let _ = f.narrow(-1, 2, 1).fill_(0.05);
    let _ = f.narrow(-1, 3, 1).fill_(0.9);
    f.narrow(-1, 4 + 3 * 19, 3)
        .copy_(&Tensor::from_slice(&[0.4, 1.3, 0.1])); // left wrist RIC
    let j = joints_from_features(&f).unwrap();
    for t in 0..rows {
        let root = Vec::<f64>::try_from(j.get(t).get(0)).unwrap();
        assert!(
            (root[2] - 0.05 * t as f64).abs() < 1e-12
                && root[0].abs() < 1e-12
                && (root[1] - 0.9).abs() < 1e-12
        );
        let wrist = Vec::<f64>::try_from(j.get(t).get(20)).unwrap();
        assert!(
            (wrist[0] - 0.4).abs() < 1e-12 && (wrist[2] - (0.1 + 0.05 * t as f64)).abs() < 1e-12
        );
    }

    // Turn at a constant yaw rate while stepping forward: compare with the closed-form sum.
    let c = -0.04; // dim 0 per row; the body turns by -2c = +0.08 rad a row (towards +X)
    let v = 0.03;
    let _ = f.narrow(-1, 0, 1).fill_(c);
    let _ = f.narrow(-1, 2, 1).fill_(v);
    let j = joints_from_features(&f).unwrap();
    let (mut x, mut z) = (0.0f64, 0.0f64);
    for t in 0..rows {
        if t > 0 {
            let a = -2.0 * c * t as f64; // body-to-world yaw of frame t
            x += v * a.sin();
            z += v * a.cos();
        }
        let root = Vec::<f64>::try_from(j.get(t).get(0)).unwrap();
        assert!(
            (root[0] - x).abs() < 1e-12 && (root[2] - z).abs() < 1e-12,
            "frame {t}: {root:?} vs ({x}, {z})"
        );
        let a = -2.0 * c * t as f64;
        let wrist = Vec::<f64>::try_from(j.get(t).get(20)).unwrap();
        let (wx, wz) = (
            0.4 * a.cos() + 0.1 * a.sin() + x,
            -0.4 * a.sin() + 0.1 * a.cos() + z,
        );
        assert!(
            (wrist[0] - wx).abs() < 1e-12 && (wrist[2] - wz).abs() < 1e-12,
            "frame {t}"
        );
    }
}

#[test]
fn recovery_gradient_matches_finite_differences() {
    let _rng = crate::global_rng();
    let f0 = features_from_joints(&wiggle(12, 0.8, 7)).unwrap();
    let weights = Tensor::randn([11, 22, 3], (Kind::Double, Device::Cpu));
    let loss = |f: &Tensor| (joints_from_features(f).unwrap() * &weights).sum(Kind::Double);
    let f = f0.detach().set_requires_grad(true);
    let grad = tch::Tensor::run_backward(&[loss(&f)], &[&f], false, false)
        .pop()
        .unwrap();
    let eps = 1e-6;
    // Yaw velocity of an early row (moves everything after it), root displacement, height, RIC.
    for (row, dim) in [
        (1, 0),
        (3, 1),
        (2, 2),
        (5, 3),
        (4, 4),
        (6, 66),
        (0, 0),
        (9, 30),
    ] {
        let bump = |s: f64| {
            let g = f0.copy();
            let _ = g.get(row).get(dim).fill_(f0.double_value(&[row, dim]) + s);
            loss(&g).double_value(&[])
        };
        let numeric = (bump(eps) - bump(-eps)) / (2.0 * eps);
        let analytic = grad.double_value(&[row, dim]);
        assert!(
            (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
            "row {row} dim {dim}: {numeric} vs {analytic}"
        );
    }
}

#[test]
fn batches_equal_one_by_one() {
    let a = wiggle(40, 0.3, 1);
    let b = wiggle(40, -1.1, 2);
    let batch = features_from_joints(&Tensor::stack(&[&a, &b], 0)).unwrap();
    assert!(max_abs(&batch.get(0), &features_from_joints(&a).unwrap()) < 1e-12);
    assert!(max_abs(&batch.get(1), &features_from_joints(&b).unwrap()) < 1e-12);
    let back = joints_from_features(&batch).unwrap();
    assert!(max_abs(&back.get(1), &joints_from_features(&batch.get(1)).unwrap()) < 1e-12);
}

#[test]
fn bad_input_is_refused_with_its_shape_or_values() {
    let e =
        features_from_joints(&Tensor::zeros([5, 21, 3], (Kind::Double, Device::Cpu))).unwrap_err();
    assert!(e.to_string().contains("[5, 21, 3]"), "{e}");
    let e = features_from_joints(&tpose_clip(1)).unwrap_err();
    assert!(e.to_string().contains("T >= 2"), "{e}");
    let j = tpose_clip(3);
    let _ = j.get(1).get(4).get(2).fill_(f64::NAN);
    let e = features_from_joints(&j).unwrap_err().to_string();
    assert!(e.contains("non-finite") && e.contains("index 80"), "{e}");
    let e = joints_from_features(&Tensor::zeros([4, 262], (Kind::Float, Device::Cpu))).unwrap_err();
    assert!(e.to_string().contains("263"), "{e}");
}
