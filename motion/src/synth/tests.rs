//! Every primitive animates plausibly, the described actions really happen, and the folder loads.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::actions::{Action, Gait, GaitKind, JumpStyle, PRIMITIVES};
use super::arms::ArmAction;
use super::body::{Body, LEFT, RIGHT};
use super::*;
use crate::skeleton::PARENTS;

fn run(plan: &[Action], seed: u64) -> Clip {
    build(&mut ChaCha8Rng::seed_from_u64(seed), plan)
}

fn at(c: &Clip, f: usize, j: usize) -> [f64; 3] {
    c.joints[f][j]
}

fn lowest(c: &Clip) -> f64 {
    c.joints
        .iter()
        .flatten()
        .map(|p| p[1])
        .fold(f64::INFINITY, f64::min)
}

fn bone_lengths_constant(c: &Clip) -> f64 {
    let len = |f: usize, j: usize| {
        let (a, b) = (at(c, f, j), at(c, f, PARENTS[j].unwrap()));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    };
    (1..22)
        .flat_map(|j| (1..c.joints.len()).map(move |f| (j, f)))
        .map(|(j, f)| (len(f, j) - len(0, j)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_primitive_is_finite_rigid_and_above_the_floor() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for kind in 0..PRIMITIVES {
        for _ in 0..3 {
            let a = Action::sample_kind(kind, &mut rng);
            let c = run(std::slice::from_ref(&a), kind as u64);
            assert!(
                c.joints.iter().flatten().flatten().all(|v| v.is_finite()),
                "{a:?}"
            );
            let drift = bone_lengths_constant(&c);
            assert!(drift < 1e-6, "{a:?}: a bone changed length by {drift} m");
            assert!(
                lowest(&c) > -1e-6,
                "{a:?}: a joint goes {} m under the floor",
                lowest(&c)
            );
            let toes = at(&c, 0, 10)[1].min(at(&c, 0, 11)[1]);
            assert!(toes.abs() < 1e-6, "{a:?}: starts standing on the floor");
            // Smooth: no joint teleports (a running foot peaks near 15 m/s, 0.75 m a frame) and no
            // acceleration beyond 180 m/s^2 (0.45 m second difference at 20 fps). Measured maxima:
            // about 0.2-0.3 for gaits and jumps (swing feet, knees), 0.42 for a throw's elbow; the
            // snaps this guards against (a pose switching channels at once) measured 0.9.
            for f in 1..c.joints.len() {
                for j in 0..22 {
                    let (p, q) = (at(&c, f, j), at(&c, f - 1, j));
                    let step =
                        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2))
                            .sqrt();
                    assert!(step < 0.8, "{a:?}: joint {j} jumps {step} m at frame {f}");
                    if f + 1 < c.joints.len() {
                        let r = at(&c, f + 1, j);
                        let acc = (0..3)
                            .map(|k| (r[k] - 2.0 * p[k] + q[k]).powi(2))
                            .sum::<f64>()
                            .sqrt();
                        assert!(acc < 0.45, "{a:?}: joint {j} jerks by {acc} m at frame {f}");
                    }
                }
            }
            let phrase = a.phrase().0;
            assert!(
                c.captions.iter().all(|cap| cap.text.contains(&phrase)),
                "captions name {phrase:?}"
            );
        }
    }
}

#[test]
fn waving_with_the_left_hand_lifts_the_left_wrist_above_the_shoulder() {
    let c = run(
        &[Action::Arms(ArmAction::Wave {
            side: LEFT,
            count: 2,
        })],
        5,
    );
    let above = (0..c.joints.len())
        .filter(|&f| at(&c, f, 20)[1] > at(&c, f, 16)[1])
        .count();
    assert!(
        above >= 20,
        "left wrist above the left shoulder on {above} frames"
    );
    assert!(
        (0..c.joints.len()).all(|f| at(&c, f, 21)[1] < at(&c, f, 17)[1]),
        "the right hand stays down"
    );
    // Side to side: the wrist's lateral position swings while up.
    let xs: Vec<f64> = (0..c.joints.len())
        .filter(|&f| at(&c, f, 20)[1] > at(&c, f, 16)[1])
        .map(|f| at(&c, f, 20)[0])
        .collect();
    let spread =
        xs.iter().cloned().fold(f64::MIN, f64::max) - xs.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 0.08, "waving moves the hand sideways ({spread} m)");
}

#[test]
fn walking_moves_the_pelvis_at_the_requested_speed_with_planted_feet() {
    let (speed, seconds) = (1.2, 4.0);
    let walk = Action::Gait(Gait {
        kind: GaitKind::Walk,
        speed,
        turn_rate: 0.0,
        seconds,
    });
    let c = run(&[walk], 11);
    let (a, b) = (at(&c, 0, 0), at(&c, c.joints.len() - 1, 0));
    let dist = ((b[0] - a[0]).powi(2) + (b[2] - a[2]).powi(2)).sqrt();
    // The speed ramps up and down over 0.6 s each (a smoothstep averages one half): 0.6 s lost.
    let want = speed * (seconds - 0.6);
    assert!(
        (dist - want).abs() < 0.05 * want,
        "walked {dist} m, expected {want}"
    );
    // A foot on the ground (ankle at its lowest) does not slide.
    for ankle in [7, 8] {
        let floor = (0..c.joints.len())
            .map(|f| at(&c, f, ankle)[1])
            .fold(f64::INFINITY, f64::min);
        let mut planted = 0;
        for f in 1..c.joints.len() {
            let (p, q) = (at(&c, f, ankle), at(&c, f - 1, ankle));
            if (p[1] - floor).abs() < 1e-9 && (q[1] - floor).abs() < 1e-9 {
                planted += 1;
                let slide = ((p[0] - q[0]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                assert!(slide < 1e-9, "ankle {ankle} slides {slide} m at frame {f}");
            }
        }
        assert!(planted > 20, "ankle {ankle} is planted on {planted} frames");
    }
    // Both feet leave the ground in turn (steps happen).
    for ankle in [7, 8] {
        let top = (0..c.joints.len())
            .map(|f| at(&c, f, ankle)[1])
            .fold(f64::MIN, f64::max);
        assert!(top > at(&c, 0, ankle)[1] + 0.04, "ankle {ankle} lifts");
    }
}

#[test]
fn jumps_kicks_and_sitting_do_what_they_say() {
    let stand = Body::standard();
    let jump = run(
        &[Action::Jump {
            style: JumpStyle::InPlace,
            count: 1,
        }],
        2,
    );
    let rise = jump.joints.iter().map(|f| f[0][1]).fold(f64::MIN, f64::max) - at(&jump, 0, 0)[1];
    assert!(rise > 0.08, "the pelvis rises {rise} m");
    let air = jump
        .joints
        .iter()
        .map(|f| f[10][1].min(f[11][1]))
        .fold(f64::MIN, f64::max);
    assert!(air > 0.05, "both feet leave the floor ({air} m)");

    let kick = run(&[Action::Kick { side: RIGHT }], 3);
    let high = kick.joints.iter().map(|f| f[8][1]).fold(f64::MIN, f64::max);
    assert!(high > 0.3, "the right ankle rises to {high} m");
    assert!(
        kick.joints.iter().all(|f| f[7][1] < 0.1),
        "the left foot stays down"
    );

    let sit = run(&[Action::SitOnFloor { hold: 1.0 }], 4);
    let low = sit.joints.iter().map(|f| f[0][1]).fold(f64::MAX, f64::min);
    assert!(low < 0.25, "the pelvis gets down to {low} m");
    let end = at(&sit, sit.joints.len() - 1, 0)[1];
    assert!(
        end > 0.8 * stand.standing_height(),
        "and stands back up ({end} m)"
    );
}

#[test]
fn clips_are_deterministic_and_inside_the_length_filter() {
    for i in 0..30 {
        let (a, b) = (clip(7, i), clip(7, i));
        assert_eq!(a.joints, b.joints);
        assert_eq!(a.captions, b.captions);
        assert!(
            (MIN_FRAMES..=MAX_FRAMES).contains(&a.joints.len()),
            "{} frames",
            a.joints.len()
        );
        assert!(a.captions.len() >= 3);
        for cap in &a.captions {
            assert!(cap
                .segments
                .iter()
                .all(|s| s.1 < s.2 && s.2 <= a.joints.len()));
        }
    }
    assert_ne!(clip(7, 0).joints, clip(8, 0).joints);
}

#[test]
fn a_synthesised_folder_loads_and_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synth");
    let report = synthesize(
        &out,
        &SynthOptions {
            count: 12,
            seed: 3,
            ..Default::default()
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(report.clips, 12);
    assert_eq!(report.splits.iter().sum::<usize>(), 12);
    let check = crate::data::check(&out, |_, _| {});
    assert!(check.is_clean(), "{check}");
    let data = crate::data::Dataset::load(&out, "train", &Default::default(), |_, _| {}).unwrap();
    assert_eq!(data.samples.len(), report.splits[0]);
    assert!(data.notes.is_empty(), "Mean/Std shipped: {:?}", data.notes);
    let gt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("texts/000000.json")).unwrap())
            .unwrap();
    assert_eq!(gt["fps"], 20.0);
    assert!(gt["captions"][0]["segments"][0]["text"].is_string());
    // No partial folder is left beside it, and a second run into the same folder is refused.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let e = synthesize(
        &out,
        &SynthOptions {
            count: 2,
            seed: 3,
            ..Default::default()
        },
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not empty"), "{e}");
    let e = synthesize(
        &tmp.path().join("x"),
        &SynthOptions {
            count: 0,
            seed: 3,
            ..Default::default()
        },
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--count 0"), "{e}");
}
