//! CMU ASF/AMC reader: the skeleton (bone directions, lengths, axes, degrees of freedom, hierarchy)
//! and the motion (one line of angles per bone per frame), with the forward kinematics of CMU's
//! format: L = C * M * C^-1 per bone, M from the bone's dof angles (Rz Ry Rx), positions at bone ends.

use std::collections::HashMap;
use std::path::Path;

use super::Source;
use crate::error::{Error, Result};
use crate::mat3::{self, apply, axis_rotation, mul, transpose, M3, P3};

struct Bone {
    name: String,
    direction: P3,
    length: f64,
    /// C: the bone's local axes (from `axis a b c XYZ`).
    axis: M3,
    /// Degree-of-freedom axes in the order the AMC lists their values.
    dof: Vec<usize>,
    parent: Option<usize>,
}

struct Skeleton {
    bones: Vec<Bone>, // bones[0] is the root
    root_order: Vec<(bool, usize)>,
    metres_per_unit: f64,
    degrees: bool,
}

/// Rz(z) Ry(y) Rx(x): the static XYZ Euler order of CMU's files.
fn euler_xyz(a: [f64; 3]) -> M3 {
    mul(
        &mul(&axis_rotation(2, a[2]), &axis_rotation(1, a[1])),
        &axis_rotation(0, a[0]),
    )
}

fn axis_index(t: &str) -> Option<usize> {
    match t.to_ascii_lowercase().trim_start_matches(['r', 't']) {
        "x" => Some(0),
        "y" => Some(1),
        "z" => Some(2),
        _ => None,
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Error::file(path, "is not UTF-8 text"))
}

fn parse_asf(path: &Path) -> Result<Skeleton> {
    let text = read_text(path)?;
    let bad = |line: usize, msg: String| Error::Line {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let num = |line: usize, t: &str| {
        t.parse::<f64>()
            .map_err(|_| bad(line, format!("{t:?} is not a number")))
    };
    let mut section = String::new();
    let mut bones: Vec<Bone> = vec![Bone {
        name: "root".into(),
        direction: [0.0; 3],
        length: 0.0,
        axis: mat3::IDENTITY,
        dof: Vec::new(),
        parent: None,
    }];
    let mut root_order = Vec::new();
    let (mut length_unit, mut degrees) = (1.0, true);
    let mut current: Option<Bone> = None;
    let mut parents: Vec<(usize, String, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix(':') {
            section = s.split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        match section.as_str() {
            "units" => match t.as_slice() {
                ["length", v] => length_unit = num(line_no, v)?,
                ["angle", v] => degrees = !v.starts_with("rad"),
                _ => {}
            },
            "root" => {
                if t[0] == "order" {
                    for c in &t[1..] {
                        let axis = axis_index(c)
                            .ok_or_else(|| bad(line_no, format!("unknown root channel {c:?}")))?;
                        root_order.push((c.to_ascii_lowercase().starts_with('t'), axis));
                    }
                } else if t[0] == "orientation" && t.len() >= 4 {
                    let a = [
                        num(line_no, t[1])?,
                        num(line_no, t[2])?,
                        num(line_no, t[3])?,
                    ];
                    bones[0].axis = euler_xyz(a);
                }
            }
            "bonedata" => {
                match t[0] {
                    "begin" => {
                        current = Some(Bone {
                            name: String::new(),
                            direction: [0.0; 3],
                            length: 0.0,
                            axis: mat3::IDENTITY,
                            dof: Vec::new(),
                            parent: None,
                        })
                    }
                    "end" => {
                        let b = current
                            .take()
                            .ok_or_else(|| bad(line_no, "`end` without `begin`".into()))?;
                        if b.name.is_empty() {
                            return Err(bad(line_no, "a bone without a name".into()));
                        }
                        bones.push(b);
                    }
                    key => {
                        let Some(b) = current.as_mut() else { continue };
                        match key {
                            "name" => {
                                b.name = t
                                    .get(1)
                                    .ok_or_else(|| bad(line_no, "name without a value".into()))?
                                    .to_string()
                            }
                            "direction" if t.len() >= 4 => {
                                b.direction = [
                                    num(line_no, t[1])?,
                                    num(line_no, t[2])?,
                                    num(line_no, t[3])?,
                                ]
                            }
                            "length" if t.len() >= 2 => b.length = num(line_no, t[1])?,
                            "axis" if t.len() >= 4 => {
                                b.axis = euler_xyz([
                                    num(line_no, t[1])?,
                                    num(line_no, t[2])?,
                                    num(line_no, t[3])?,
                                ])
                            }
                            "dof" => {
                                for c in &t[1..] {
                                    b.dof.push(axis_index(c).ok_or_else(|| {
                                        bad(line_no, format!("unknown dof {c:?}"))
                                    })?);
                                }
                            }
                            "direction" | "length" | "axis" => {
                                return Err(bad(line_no, format!("`{key}` is missing values")))
                            }
                            _ => {}
                        }
                    }
                }
            }
            "hierarchy" if t[0] != "begin" && t[0] != "end" => {
                for child in &t[1..] {
                    parents.push((line_no, t[0].to_string(), child.to_string()));
                }
            }
            _ => {}
        }
    }
    if root_order.is_empty() {
        return Err(Error::file(path, "no `:root` section with an `order` line"));
    }
    let index: HashMap<String, usize> = bones
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.clone(), i))
        .collect();
    for (line, parent, child) in parents {
        let p = *index
            .get(&parent)
            .ok_or_else(|| bad(line, format!("unknown bone {parent:?} in the hierarchy")))?;
        let c = *index
            .get(&child)
            .ok_or_else(|| bad(line, format!("unknown bone {child:?} in the hierarchy")))?;
        bones[c].parent = Some(p);
    }
    if let Some(b) = bones.iter().skip(1).find(|b| b.parent.is_none()) {
        return Err(Error::file(
            path,
            format!("bone {:?} is not in the hierarchy", b.name),
        ));
    }
    // CMU: one length unit is 1/length inch (`length 0.45`).
    Ok(Skeleton {
        bones,
        root_order,
        metres_per_unit: 0.0254 / length_unit,
        degrees,
    })
}

/// Reads `asf` (skeleton) and `amc` (motion at `fps`) into named positions: `root` and the end of
/// every bone, in metres.
pub fn read(asf: &Path, amc: &Path, fps: f64) -> Result<Source> {
    let skel = parse_asf(asf)?;
    let text = read_text(amc)?;
    let bad = |line: usize, msg: String| Error::Line {
        path: amc.to_path_buf(),
        line,
        msg,
    };
    let index: HashMap<&str, usize> = skel
        .bones
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    // Bones in an order where parents come first.
    let mut order: Vec<usize> = vec![0];
    while order.len() < skel.bones.len() {
        let before = order.len();
        for (i, b) in skel.bones.iter().enumerate() {
            if !order.contains(&i) && b.parent.is_some_and(|p| order.contains(&p)) {
                order.push(i);
            }
        }
        if order.len() == before {
            return Err(Error::file(asf, "the hierarchy has a cycle"));
        }
    }
    let to_deg = |v: f64| if skel.degrees { v } else { v.to_degrees() };
    let mut frames: Vec<Vec<P3>> = Vec::new();
    let mut values: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut frame_line = 0;
    let flush = |values: &mut HashMap<usize, Vec<f64>>,
                 line: usize,
                 frames: &mut Vec<Vec<P3>>|
     -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let root = values
            .get(&0)
            .ok_or_else(|| bad(line, "frame without a `root` line".into()))?;
        if root.len() != skel.root_order.len() {
            return Err(bad(
                line,
                format!(
                    "root has {} values, the skeleton's order needs {}",
                    root.len(),
                    skel.root_order.len()
                ),
            ));
        }
        let mut global: Vec<(M3, P3)> = vec![(mat3::IDENTITY, [0.0; 3]); skel.bones.len()];
        let (mut pos, mut rot) = ([0.0; 3], [0.0; 3]);
        for (&(is_t, axis), &v) in skel.root_order.iter().zip(root) {
            if is_t {
                pos[axis] = v * skel.metres_per_unit;
            } else {
                rot[axis] = to_deg(v);
            }
        }
        let c = skel.bones[0].axis;
        global[0] = (mul(&mul(&c, &euler_xyz(rot)), &transpose(&c)), pos);
        for &i in order.iter().skip(1) {
            let b = &skel.bones[i];
            let mut angles = [0.0; 3];
            if let Some(v) = values.get(&i) {
                if v.len() != b.dof.len() {
                    return Err(bad(
                        line,
                        format!(
                            "bone {} has {} values, its dof needs {}",
                            b.name,
                            v.len(),
                            b.dof.len()
                        ),
                    ));
                }
                for (&axis, &a) in b.dof.iter().zip(v) {
                    angles[axis] = to_deg(a);
                }
            }
            let (pm, pp) = global[b.parent.expect("non-root bones have parents")];
            let m = mul(
                &mul(&mul(&pm, &b.axis), &euler_xyz(angles)),
                &transpose(&b.axis),
            );
            let end = mat3::add(
                pp,
                apply(&m, b.direction.map(|d| d * b.length * skel.metres_per_unit)),
            );
            global[i] = (m, end);
        }
        frames.push(global.into_iter().map(|(_, p)| p).collect());
        values.clear();
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(':') {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() == 1 && t[0].parse::<usize>().is_ok() {
            flush(&mut values, frame_line, &mut frames)?;
            frame_line = i + 1;
            continue;
        }
        let bone = *index
            .get(t[0])
            .ok_or_else(|| bad(i + 1, format!("unknown bone {:?}", t[0])))?;
        let v: Vec<f64> = t[1..]
            .iter()
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(i + 1, format!("{s:?} is not a number")))
            })
            .collect::<Result<_>>()?;
        values.insert(bone, v);
    }
    flush(&mut values, frame_line, &mut frames)?;
    if frames.is_empty() {
        return Err(Error::file(amc, "no frames"));
    }
    Ok(Source {
        names: skel.bones.into_iter().map(|b| b.name).collect(),
        positions: frames,
        fps,
        metres_per_unit: Some(1.0),
    })
}
