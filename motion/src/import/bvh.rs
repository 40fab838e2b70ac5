//! BVH reader: hierarchy, channels, frames, and forward kinematics to named joint positions.

use std::path::Path;

use super::Source;
use crate::error::{Error, Result};
use crate::mat3::{self, apply, axis_rotation, mul, M3, P3};

struct Joint {
    name: String,
    parent: Option<usize>,
    offset: P3,
    /// (is_position, axis) per channel, in file order.
    channels: Vec<(bool, usize)>,
}

/// Whitespace tokens with their 1-based line numbers.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .flat_map(|(i, l)| l.split_whitespace().map(move |t| (i + 1, t)))
        .collect()
}

pub fn read(path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Source> {
    let toks = tokens(text);
    let mut pos = 0;
    let at_line = |i: usize| {
        toks.get(i)
            .map(|t| t.0)
            .unwrap_or_else(|| text.lines().count().max(1))
    };
    let bad = |i: usize, msg: String| Error::Line {
        path: path.to_path_buf(),
        line: at_line(i),
        msg,
    };
    let mut next = |what: &str| -> Result<(usize, &str)> {
        let t = toks
            .get(pos)
            .ok_or_else(|| bad(pos, format!("file ends where {what} was expected")))?;
        pos += 1;
        Ok((pos - 1, t.1))
    };
    let (i, t) = next("HIERARCHY")?;
    if t != "HIERARCHY" {
        return Err(bad(i, format!("expected HIERARCHY, found {t:?}")));
    }
    let mut joints: Vec<Joint> = Vec::new();
    let mut stack: Vec<Option<usize>> = Vec::new(); // None for an End Site block
    let number = |i: usize, t: &str| {
        t.parse::<f64>()
            .map_err(|_| bad(i, format!("{t:?} is not a number")))
    };
    loop {
        let (i, t) = next("a joint or MOTION")?;
        match t {
            "ROOT" | "JOINT" => {
                let (_, name) = next("a joint name")?;
                let parent = stack.iter().rev().flatten().next().copied();
                if t == "ROOT" && !joints.is_empty() {
                    return Err(bad(
                        i,
                        "a second ROOT (only one skeleton per file is supported)".into(),
                    ));
                }
                joints.push(Joint {
                    name: name.to_string(),
                    parent,
                    offset: [0.0; 3],
                    channels: Vec::new(),
                });
                let (j, brace) = next("{")?;
                if brace != "{" {
                    return Err(bad(
                        j,
                        format!("expected {{ after joint {name}, found {brace:?}"),
                    ));
                }
                stack.push(Some(joints.len() - 1));
            }
            "End" => {
                let (_, site) = next("Site")?;
                let (j, brace) = next("{")?;
                if site != "Site" || brace != "{" {
                    return Err(bad(j, "expected `End Site {`".into()));
                }
                stack.push(None);
            }
            "OFFSET" => {
                let mut o = [0.0; 3];
                for v in &mut o {
                    let (j, t) = next("an OFFSET value")?;
                    *v = number(j, t)?;
                }
                if let Some(Some(j)) = stack.last() {
                    joints[*j].offset = o;
                }
            }
            "CHANNELS" => {
                let (j, n) = next("a channel count")?;
                let n: usize = n
                    .parse()
                    .map_err(|_| bad(j, format!("channel count {n:?} is not a whole number")))?;
                let Some(Some(joint)) = stack.last().copied() else {
                    return Err(bad(i, "CHANNELS outside a joint".into()));
                };
                for _ in 0..n {
                    let (k, c) = next("a channel name")?;
                    let axis = match c.chars().next() {
                        Some('X' | 'x') => 0,
                        Some('Y' | 'y') => 1,
                        Some('Z' | 'z') => 2,
                        _ => return Err(bad(k, format!("unknown channel {c:?}"))),
                    };
                    let is_pos = c.to_ascii_lowercase().ends_with("position");
                    if !is_pos && !c.to_ascii_lowercase().ends_with("rotation") {
                        return Err(bad(k, format!("unknown channel {c:?}")));
                    }
                    joints[joint].channels.push((is_pos, axis));
                }
            }
            "}" => {
                if stack.pop().is_none() {
                    return Err(bad(i, "unbalanced }".into()));
                }
            }
            "MOTION" if stack.is_empty() && !joints.is_empty() => break,
            other => return Err(bad(i, format!("unexpected {other:?} in the hierarchy"))),
        }
    }
    let (i, t) = next("Frames:")?;
    let (j, n) = next("the frame count")?;
    if t != "Frames:" {
        return Err(bad(i, format!("expected `Frames:`, found {t:?}")));
    }
    let frames: usize = n
        .parse()
        .map_err(|_| bad(j, format!("frame count {n:?} is not a whole number")))?;
    let (i, a) = next("Frame Time:")?;
    let (_, b) = next("Frame Time:")?;
    if a != "Frame" || b != "Time:" {
        return Err(bad(i, "expected `Frame Time:`".into()));
    }
    let (k, ft) = next("the frame time")?;
    let frame_time = number(k, ft)?;
    if !(frame_time > 0.0 && frame_time.is_finite()) {
        return Err(bad(k, format!("frame time {ft} must be positive")));
    }
    let per_frame: usize = joints.iter().map(|j| j.channels.len()).sum();
    let values: Vec<(usize, &str)> = toks[pos..].to_vec();
    if values.len() != frames * per_frame {
        return Err(bad(
            pos.min(toks.len().saturating_sub(1)),
            format!(
                "`Frames: {frames}` with {per_frame} channels needs {} values, the file has {}",
                frames * per_frame,
                values.len()
            ),
        ));
    }
    let mut positions = Vec::with_capacity(frames);
    for f in 0..frames {
        let row = &values[f * per_frame..(f + 1) * per_frame];
        let mut k = 0;
        let mut global: Vec<(M3, P3)> = Vec::with_capacity(joints.len());
        for joint in &joints {
            let mut translation = joint.offset;
            let mut rotation = mat3::IDENTITY;
            for &(is_pos, axis) in &joint.channels {
                let (line, t) = row[k];
                let v = t.parse::<f64>().map_err(|_| Error::Line {
                    path: path.to_path_buf(),
                    line,
                    msg: format!("{t:?} is not a number"),
                })?;
                if !v.is_finite() {
                    return Err(Error::Line {
                        path: path.to_path_buf(),
                        line,
                        msg: format!("{t:?} is not finite"),
                    });
                }
                k += 1;
                if is_pos {
                    translation[axis] = v + if joint.parent.is_none() {
                        0.0
                    } else {
                        joint.offset[axis]
                    };
                } else {
                    rotation = mul(&rotation, &axis_rotation(axis, v));
                }
            }
            let (r, p) = match joint.parent {
                None => (rotation, translation),
                Some(parent) => {
                    let (pr, pp) = global[parent];
                    (mul(&pr, &rotation), mat3::add(pp, apply(&pr, translation)))
                }
            };
            global.push((r, p));
        }
        positions.push(global.into_iter().map(|(_, p)| p).collect());
    }
    Ok(Source {
        names: joints.into_iter().map(|j| j.name).collect(),
        positions,
        fps: 1.0 / frame_time,
        metres_per_unit: None,
    })
}
