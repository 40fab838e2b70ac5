//! CMU clips import plausibly; our BVH export round-trips; malformed files name file, line, problem.

use std::path::{Path, PathBuf};

use super::*;
use crate::export::bvh_string;

fn cmu(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/cmu-asfamc")
        .join(name)
}

fn height(f: &[P3; NUM_JOINTS]) -> f64 {
    f.iter().map(|p| p[1]).fold(f64::MIN, f64::max)
        - f.iter().map(|p| p[1]).fold(f64::MAX, f64::min)
}

#[test]
fn cmu_clips_import_as_people_of_plausible_size() {
    let joints = read_motion(&cmu("02_01.amc")).unwrap();
    // 120 fps resampled to 20: a sixth of the AMC frames.
    let amc_frames = std::fs::read_to_string(cmu("02_01.amc"))
        .unwrap()
        .lines()
        .filter(|l| l.trim().parse::<usize>().is_ok())
        .count();
    assert_eq!(joints.len(), (amc_frames - 1) / 6 + 1);
    let h = height(&joints[0]);
    assert!((1.4..2.0).contains(&h), "standing height {h} m");
    // Bones the mapping takes whole have constant length (rigid skeleton).
    let len =
        |f: &[P3; NUM_JOINTS], a: usize, b: usize| crate::mat3::norm(crate::mat3::sub(f[a], f[b]));
    for (a, b) in [(4, 1), (7, 4), (18, 16), (20, 18)] {
        let l0 = len(&joints[0], a, b);
        assert!(
            joints.iter().all(|f| (len(f, a, b) - l0).abs() < 1e-6),
            "bone {a}-{b}"
        );
        assert!((0.15..0.6).contains(&l0), "bone {a}-{b}: {l0} m");
    }
    // The left side is on the body's left: facing computed from hips and shoulders agrees with the
    // head being above the pelvis and the toes in front of the ankles.
    let f = &joints[0];
    assert!(f[15][1] > f[0][1] + 0.4 && f[10][1] < f[4][1]);
    let fwd = crate::mat3::sub(f[10], f[7]);
    let across = crate::mat3::sub(f[2], f[1]);
    let facing = [across[2], 0.0, -across[0]];
    assert!(
        fwd[0] * facing[0] + fwd[2] * facing[2] > 0.0,
        "toes point where the body faces"
    );
}

#[test]
fn our_bvh_round_trips_within_a_centimetre() {
    for (seed, index) in [(0, 1), (0, 4), (3, 7)] {
        let clip = crate::synth::clip(seed, index).joints;
        let text = bvh_string(&clip, 20.0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bvh");
        std::fs::write(&path, text).unwrap();
        let back = read_motion(&path).unwrap();
        assert_eq!(back.len(), clip.len());
        let err = clip
            .iter()
            .zip(&back)
            .flat_map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(p, q)| crate::mat3::norm(crate::mat3::sub(*p, *q)))
            })
            .fold(0.0, f64::max);
        assert!(err < 0.01, "clip {index}: round trip error {err} m");
    }
}

#[test]
fn malformed_files_name_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = bvh_string(&crate::synth::clip(0, 2).joints, 20.0).unwrap();
    let e = read_motion(&write(
        "a.bvh",
        &good.replacen("CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation", 1),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("a.bvh:") && e.contains("unknown channel \"Wrotation\""),
        "{e}"
    );
    let e = read_motion(&write("b.bvh", &good.replacen("Frames: ", "Frames: 9", 1)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.bvh") && e.contains("needs"), "{e}");
    let cut: String = good
        .lines()
        .take(good.lines().count() - 3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(read_motion(&write("c.bvh", &cut))
        .unwrap_err()
        .to_string()
        .contains("needs"));
    let mut lines: Vec<&str> = good.lines().collect();
    let last = lines.len() - 1;
    let broken = lines[last].replacen(' ', " abc ", 1);
    lines[last] = &broken;
    let e = read_motion(&write("d.bvh", &lines.join("\n")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("d.bvh:"), "{e}");
    let renamed = good.replace("JOINT left_knee", "JOINT knee_l");
    let e = read_motion(&write("e.bvh", &renamed))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown skeleton") && e.contains("left_hip"),
        "{e}"
    );
    // An AMC whose bone is not in the skeleton, next to a real ASF.
    std::fs::copy(cmu("01.asf"), dir.path().join("01.asf")).unwrap();
    let e = read_motion(&write(
        "01_99.amc",
        ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\nwing 1 2 3\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("01_99.amc:5: unknown bone \"wing\""), "{e}");
    let e = read_motion(&write("01_98.amc", "1\nroot 0 0 x 0 0 0\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("01_98.amc:2") && e.contains("\"x\" is not a number"),
        "{e}"
    );
    let e = read_motion(&write("07_01.amc", "1\nroot 0 0 0 0 0 0\n"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("07_01.amc"), "{e}");
}
