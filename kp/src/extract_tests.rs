//! Parity with the shared fixtures and the analytic cases of kinematic-phrases.md.

use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tch::{Device, Kind, Tensor};

use super::*;
use crate::phrases::{phrase_table, PhraseKind, NUM_PHRASES};

fn fixture(name: &str, what: &str) -> Tensor {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../shared/fixtures/{name}.{what}.npy"));
    let a = ArrayD::<f32>::read_npy(
        std::fs::File::open(&path).expect("shared fixtures beside the repo"),
    )
    .unwrap();
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    Tensor::from_slice(a.as_slice().unwrap())
        .reshape(shape)
        .to_kind(Kind::Double)
}

const FIXTURES: [&str; 5] = [
    "tpose",
    "left_wrist_rise",
    "walk_forward",
    "random_a",
    "random_b",
];

fn rotate_y(j: &Tensor, angle: f64) -> Tensor {
    let (c, s) = (angle.cos(), angle.sin());
    let (x, y, z) = (j.select(-1, 0), j.select(-1, 1), j.select(-1, 2));
    Tensor::stack(&[&x * c + &z * s, y, -(&x * s) + &z * c], -1)
}

/// Phrases whose joints include `j`.
fn involves(kind: &PhraseKind, j: usize) -> bool {
    match kind {
        PhraseKind::Position { joint, .. } => *joint == j,
        PhraseKind::Distance { a, b } | PhraseKind::Relative { a, b, .. } => *a == j || *b == j,
        PhraseKind::Angle { a, b, .. } => [a.0, a.1, b.0, b.1].contains(&j),
        PhraseKind::Velocity { .. } => false,
    }
}

#[test]
fn raw_and_sign_match_the_reference_fixtures() {
    for name in FIXTURES {
        let ours = raw(&fixture(name, "joints"), None).unwrap();
        let want = fixture(name, "kp_raw");
        assert_eq!(ours.size(), want.size(), "{name}");
        let err = (&ours - &want).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{name}: raw differs by {err}");
        // Signs agree except where the value sits on the dead-zone edge.
        let edge = ((want.abs() - DEAD_ZONE).abs()).lt(1e-6);
        let differ = sign(&ours)
            .ne_tensor(&fixture(name, "kp_sign"))
            .logical_and(&edge.logical_not());
        assert_eq!(
            differ.sum(Kind::Int64).int64_value(&[]),
            0,
            "{name}: sign KP differs"
        );
    }
}

#[test]
fn tpose_has_no_movement_and_geometric_relations() {
    let s = sign(&raw(&fixture("tpose", "joints"), None).unwrap());
    for ty in [
        PhraseType::Pp,
        PhraseType::Pdp,
        PhraseType::Lap,
        PhraseType::Gvp,
    ] {
        let r = ty.range();
        assert_eq!(
            s.narrow(-1, r.start as i64, r.len() as i64)
                .abs()
                .sum(Kind::Double)
                .double_value(&[]),
            0.0,
            "{ty:?}"
        );
    }
    // Facing +Z with the left side at +X: r = -X. The left wrist is left of the right wrist,
    // the left wrist is above the left foot, the head is above the pelvis.
    assert_eq!(s.double_value(&[0, 115]), -1.0, "LW-RW:r");
    let row = |a: usize, b: usize, axis: crate::phrases::Axis| {
        phrase_table()
            .iter()
            .position(|p| {
                p.kind
                    == PhraseKind::Relative {
                        a,
                        b,
                        axis,
                        limb: false,
                    }
            })
            .unwrap() as i64
    };
    assert_eq!(
        s.double_value(&[5, row(15, 0, crate::phrases::Axis::Up)]),
        1.0,
        "H-P:u"
    );
    assert_eq!(
        s.double_value(&[5, row(15, 15, crate::phrases::Axis::Up)]),
        0.0,
        "Le-Re is head-head: 0"
    );
}

#[test]
fn rising_left_wrist_moves_only_its_own_phrases() {
    let j = fixture("left_wrist_rise", "joints");
    let s = sign(&raw(&j, None).unwrap());
    let t0 = sign(&raw(&fixture("tpose", "joints"), None).unwrap()).get(0);
    // The wrist rises over frames 10-30: PP LW:u (index 2) is +1 there.
    for t in 12..30 {
        assert_eq!(s.double_value(&[t, 2]), 1.0, "frame {t}");
    }
    for (i, p) in phrase_table().iter().enumerate() {
        if involves(&p.kind, 20) {
            continue;
        }
        let col = s.select(1, i as i64);
        if p.kind_of.is_dynamic() {
            assert_eq!(
                col.abs().sum(Kind::Double).double_value(&[]),
                0.0,
                "{i}: {}",
                p.positive
            );
        } else {
            let expected = t0.double_value(&[i as i64]);
            assert!(
                col.eq(expected).all().int64_value(&[]) == 1,
                "{i} keeps its T-pose sign"
            );
        }
    }
}

#[test]
fn walking_forward_moves_the_body_forward() {
    let s = sign(&raw(&fixture("walk_forward", "joints"), None).unwrap());
    let forward = s.select(1, 391);
    assert_eq!(
        forward.eq(1.0).all().int64_value(&[]),
        1,
        "GVP f = +1 on every frame"
    );
}

#[test]
fn turning_the_whole_motion_changes_no_phrase() {
    for name in ["random_a", "walk_forward"] {
        let j = fixture(name, "joints");
        let turned =
            rotate_y(&j, std::f64::consts::FRAC_PI_2) + Tensor::from_slice(&[2.0, 0.0, -1.0]);
        let err = (raw(&j, None).unwrap() - raw(&turned, None).unwrap())
            .abs()
            .max()
            .double_value(&[]);
        assert!(err < 1e-9, "{name}: {err}");
    }
}

#[test]
fn batches_equal_one_by_one_and_padding_never_leaks() {
    let a = fixture("random_a", "joints"); // 126 frames
    let b = fixture("walk_forward", "joints"); // 60 frames
                                               // Pad b with wild values: they must not reach b's real frames.
    let pad = Tensor::full([66, 22, 3], 50.0, (Kind::Double, Device::Cpu));
    let batch = Tensor::stack(&[a.shallow_clone(), Tensor::cat(&[&b, &pad], 0)], 0);
    let out = raw(&batch, Some(&[126, 60])).unwrap();
    assert_eq!(out.size(), vec![2, 126, NUM_PHRASES as i64]);
    let err_a = (out.get(0) - raw(&a, None).unwrap())
        .abs()
        .max()
        .double_value(&[]);
    let err_b = (out.get(1).narrow(0, 0, 60) - raw(&b, None).unwrap())
        .abs()
        .max()
        .double_value(&[]);
    assert!(err_a < 1e-12 && err_b < 1e-12, "{err_a} {err_b}");
    assert_eq!(
        out.get(1)
            .narrow(0, 60, 66)
            .abs()
            .sum(Kind::Double)
            .double_value(&[]),
        0.0,
        "padded frames are 0"
    );
}

#[test]
fn soft_kp_has_finite_gradients_at_degenerate_poses() {
    let j = fixture("tpose", "joints").narrow(0, 0, 6).copy();
    // Frame 1: a zero-length forearm (wrist on the elbow). Frame 3: a perfectly straight arm
    // (the T-pose arm is straight: arccos at its edge). Frame 4: everything on one point.
    let elbow = j.get(1).get(18).copy();
    j.get(1).get(20).copy_(&elbow);
    let _ = j.get(4).fill_(0.5);
    let j = j.set_requires_grad(true);
    let s = extract(&j, None, Mode::Soft, &SoftScales::default()).unwrap();
    let grad = Tensor::run_backward(&[s.sum(Kind::Double)], &[&j], false, false)
        .pop()
        .unwrap();
    assert_eq!(grad.isfinite().all().int64_value(&[]), 1, "{grad}");
}

#[test]
fn sign_of_soft_agrees_with_sign_away_from_the_dead_zone() {
    let r = raw(&fixture("random_b", "joints"), None).unwrap();
    let away = r.abs().ge(2.0 * DEAD_ZONE);
    let soft_sign = soft(&r, &SoftScales::default()).sign();
    let differ = soft_sign.ne_tensor(&sign(&r)).logical_and(&away);
    assert_eq!(differ.sum(Kind::Int64).int64_value(&[]), 0);
    let s = extract(
        &fixture("random_b", "joints"),
        None,
        Mode::Soft,
        &SoftScales::default(),
    )
    .unwrap();
    assert!(
        s.abs().max().double_value(&[]) < 1.0 && s.abs().max().double_value(&[]) > 0.5,
        "soft KP uses tanh's range"
    );
}

#[test]
fn bad_input_is_refused() {
    let e = raw(
        &Tensor::zeros([10, 21, 3], (Kind::Float, Device::Cpu)),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[10, 21, 3]"), "{e}");
    let e = raw(&Tensor::zeros([1, 22, 3], (Kind::Float, Device::Cpu)), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("length of 1"), "{e}");
    let j = fixture("tpose", "joints");
    let _ = j.get(3).get(7).get(1).fill_(f64::NAN);
    let e = raw(&j, None).unwrap_err().to_string();
    assert!(e.contains("1 non-finite"), "{e}");
    let two = Tensor::zeros([2, 5, 22, 3], (Kind::Float, Device::Cpu));
    assert!(raw(&two, Some(&[5]))
        .unwrap_err()
        .to_string()
        .contains("1 lengths given for a batch of 2"));
    assert!(raw(&two, Some(&[5, 6])).is_err());
}
