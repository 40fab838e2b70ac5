//! BVH export of joint motion: the 22-joint hierarchy with rest offsets from the first frame (turned
//! to face +Z), a root translation, and per-joint `Zrotation Xrotation Yrotation` Euler angles whose
//! forward kinematics put every joint back where it was (bone lengths of the first frame). Units:
//! metres. Blender imports it as is.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::mat3::{self, align_two, apply, between, mul, to_euler_zxy, transpose, M3, P3};
use crate::skeleton::{JOINT_NAMES, NUM_JOINTS, PARENTS};

/// The one child that orients each single-child joint.
fn only_child(j: usize) -> Option<usize> {
    match j {
        1 => Some(4),
        2 => Some(5),
        3 => Some(6),
        4 => Some(7),
        5 => Some(8),
        6 => Some(9),
        7 => Some(10),
        8 => Some(11),
        12 => Some(15),
        13 => Some(16),
        14 => Some(17),
        16 => Some(18),
        17 => Some(19),
        18 => Some(20),
        19 => Some(21),
        _ => None,
    }
}

/// Global rotations of every joint in one frame, given rest offsets.
fn global_rotations(p: &[P3; NUM_JOINTS], rest: &[P3; NUM_JOINTS]) -> [M3; NUM_JOINTS] {
    let d = |a: usize, b: usize| mat3::sub(p[a], p[b]);
    let r = |a: usize, b: usize| mat3::sub(rest[a], rest[b]);
    let mut g = [mat3::IDENTITY; NUM_JOINTS];
    g[0] = align_two(rest[3], r(2, 1), d(3, 0), d(2, 1));
    for j in 1..NUM_JOINTS {
        let parent = g[PARENTS[j].expect("non-root")];
        g[j] = match (j, only_child(j)) {
            (9, _) => align_two(rest[12], r(14, 13), d(12, 9), d(14, 13)),
            (_, Some(c)) => mul(&between(apply(&parent, rest[c]), d(c, j)), &parent),
            (_, None) => parent,
        };
    }
    g
}

/// Heading of a frame (angle about +Y from +Z to the facing), as in the features.
fn heading(p: &[P3; NUM_JOINTS]) -> f64 {
    let across = mat3::add(mat3::sub(p[2], p[1]), mat3::sub(p[17], p[16]));
    across[2].atan2(-across[0])
}

/// The BVH text of `joints` (`[T][22]` positions, metres) at `fps`.
pub fn bvh_string(joints: &[[[f64; 3]; 22]], fps: f64) -> Result<String> {
    if joints.is_empty() {
        return Err(Error::Invalid("no frames to export".into()));
    }
    if joints.iter().flatten().flatten().any(|v| !v.is_finite()) {
        return Err(Error::Invalid(
            "joints hold NaN or Inf; nothing exported".into(),
        ));
    }
    // Rest pose: the first frame's bones, turned to face +Z.
    let first = &joints[0];
    let turn = mat3::axis_rotation(1, -heading(first).to_degrees());
    let mut rest = [[0.0; 3]; NUM_JOINTS];
    for j in 1..NUM_JOINTS {
        rest[j] = apply(
            &turn,
            mat3::sub(first[j], first[PARENTS[j].expect("non-root")]),
        );
    }
    let mut out = String::from("HIERARCHY\n");
    let mut order = Vec::with_capacity(NUM_JOINTS); // channels follow the hierarchy's depth-first order
    write_joint(&mut out, 0, &rest, 0, &mut order);
    let _ = write!(
        out,
        "MOTION\nFrames: {}\nFrame Time: {:.6}\n",
        joints.len(),
        1.0 / fps
    );
    for p in joints {
        let g = global_rotations(p, &rest);
        let _ = write!(out, "{:.6} {:.6} {:.6}", p[0][0], p[0][1], p[0][2]);
        for &j in &order {
            let local = match PARENTS[j] {
                None => g[0],
                Some(parent) => mul(&transpose(&g[parent]), &g[j]),
            };
            let (z, x, y) = to_euler_zxy(&local);
            let _ = write!(out, " {z:.6} {x:.6} {y:.6}");
        }
        out.push('\n');
    }
    Ok(out)
}

fn write_joint(
    out: &mut String,
    j: usize,
    rest: &[P3; NUM_JOINTS],
    depth: usize,
    order: &mut Vec<usize>,
) {
    order.push(j);
    let pad = "  ".repeat(depth);
    let kind = if j == 0 { "ROOT" } else { "JOINT" };
    let o = rest[j];
    let _ = writeln!(
        out,
        "{pad}{kind} {}\n{pad}{{\n{pad}  OFFSET {:.6} {:.6} {:.6}",
        JOINT_NAMES[j], o[0], o[1], o[2]
    );
    let channels = if j == 0 {
        "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
    } else {
        "3 Zrotation Xrotation Yrotation"
    };
    let _ = writeln!(out, "{pad}  CHANNELS {channels}");
    let children: Vec<usize> = (0..NUM_JOINTS).filter(|&c| PARENTS[c] == Some(j)).collect();
    if children.is_empty() {
        let _ = writeln!(
            out,
            "{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0.000000 0.050000 0.000000\n{pad}  }}"
        );
    }
    for c in children {
        write_joint(out, c, rest, depth + 1, order);
    }
    let _ = writeln!(out, "{pad}}}");
}

/// Writes `joints` as BVH to `path`, atomically.
pub fn write_bvh(joints: &[[[f64; 3]; 22]], fps: f64, path: &Path) -> Result<()> {
    Ok(train::write_atomic(
        path,
        bvh_string(joints, fps)?.as_bytes(),
    )?)
}
