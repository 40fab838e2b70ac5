//! Importers of real motion: BVH and CMU ASF/AMC files -> named joint positions -> the 22-joint
//! skeleton (by joint names, documented below), metres, 20 fps -> a HumanML3D-layout folder whose
//! captions are the files' descriptions.
//!
//! Mappings onto the 22 joints:
//! - CMU ASF/AMC (positions at bone ends): pelvis = root, hips = end of l/rhipjoint, knees = end of
//!   l/rfemur, ankles = end of l/rtibia, feet = end of l/rfoot, spine1/2/3 = ends of lowerback,
//!   upperback, thorax, neck = end of lowerneck, head = midpoint of the ends of upperneck and head,
//!   collars = midpoint of thorax end and clavicle end, shoulders = clavicle ends, elbows = humerus
//!   ends, wrists = radius ends.
//! - BVH (positions at joints): our own names when all 22 are present (the exporter's files);
//!   otherwise the common Mixamo / LaFAN1 / CMU-BVH names (Hips, LeftUpLeg, LeftLeg, LeftFoot,
//!   LeftToeBase|LeftToe, Spine, Spine1, Spine2, Neck, Head, LeftShoulder, LeftArm, LeftForeArm,
//!   LeftHand and the Right ones), matched case-insensitively. Units: metres unless the first
//!   frame is taller than 3 units (centimetres) or 300 units (millimetres). Y is up.

mod asf;
mod bvh;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use tch::Tensor;

use crate::data::writer::{split_assignment, FolderWriter};
use crate::error::{Error, Result};
use crate::mat3::P3;
use crate::skeleton::{JOINT_NAMES, NUM_JOINTS};

/// Frames per second of CMU's AMC files.
pub const CMU_FPS: f64 = 120.0;
/// Frames per second of imported clips.
pub const TARGET_FPS: f64 = 20.0;

/// Named joint positions per frame, as read from a file.
pub struct Source {
    pub names: Vec<String>,
    pub positions: Vec<Vec<P3>>,
    pub fps: f64,
    /// Known scale to metres (ASF); `None` to infer from the skeleton's height (BVH).
    pub metres_per_unit: Option<f64>,
}

/// A point of the source skeleton: one named joint or the midpoint of two.
enum Rule {
    One(&'static [&'static str]),
    Mid(&'static str, &'static str),
}

const ASF_MAP: [Rule; NUM_JOINTS] = [
    Rule::One(&["root"]),
    Rule::One(&["lhipjoint"]),
    Rule::One(&["rhipjoint"]),
    Rule::One(&["lowerback"]),
    Rule::One(&["lfemur"]),
    Rule::One(&["rfemur"]),
    Rule::One(&["upperback"]),
    Rule::One(&["ltibia"]),
    Rule::One(&["rtibia"]),
    Rule::One(&["thorax"]),
    Rule::One(&["lfoot"]),
    Rule::One(&["rfoot"]),
    Rule::One(&["lowerneck"]),
    Rule::Mid("thorax", "lclavicle"),
    Rule::Mid("thorax", "rclavicle"),
    Rule::Mid("upperneck", "head"),
    Rule::One(&["lclavicle"]),
    Rule::One(&["rclavicle"]),
    Rule::One(&["lhumerus"]),
    Rule::One(&["rhumerus"]),
    Rule::One(&["lradius"]),
    Rule::One(&["rradius"]),
];

const BVH_MAP: [Rule; NUM_JOINTS] = [
    Rule::One(&["hips", "hip", "pelvis"]),
    Rule::One(&["leftupleg", "lefthip", "lthigh"]),
    Rule::One(&["rightupleg", "righthip", "rthigh"]),
    Rule::One(&["spine", "spine0"]),
    Rule::One(&["leftleg", "leftknee", "lshin"]),
    Rule::One(&["rightleg", "rightknee", "rshin"]),
    Rule::One(&["spine1", "chest"]),
    Rule::One(&["leftfoot", "leftankle"]),
    Rule::One(&["rightfoot", "rightankle"]),
    Rule::One(&["spine2", "chest2", "upperchest", "spine1"]),
    Rule::One(&["lefttoebase", "lefttoe", "lefttoes"]),
    Rule::One(&["righttoebase", "righttoe", "righttoes"]),
    Rule::One(&["neck", "neck1"]),
    Rule::One(&["leftshoulder", "leftcollar"]),
    Rule::One(&["rightshoulder", "rightcollar"]),
    Rule::One(&["head"]),
    Rule::One(&["leftarm", "leftupperarm"]),
    Rule::One(&["rightarm", "rightupperarm"]),
    Rule::One(&["leftforearm", "leftlowerarm", "leftelbow"]),
    Rule::One(&["rightforearm", "rightlowerarm", "rightelbow"]),
    Rule::One(&["lefthand", "leftwrist"]),
    Rule::One(&["righthand", "rightwrist"]),
];

/// `[T][22]` joints in metres at the source's frame rate.
fn retarget(src: &Source, map: &[Rule; NUM_JOINTS], file: &Path) -> Result<Vec<[P3; NUM_JOINTS]>> {
    let index: HashMap<String, usize> = src
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_ascii_lowercase(), i))
        .collect();
    let find = |names: &[&str]| names.iter().find_map(|n| index.get(*n).copied());
    let own = JOINT_NAMES.iter().all(|n| index.contains_key(*n));
    let mut pick: Vec<(usize, usize)> = Vec::with_capacity(NUM_JOINTS);
    for (j, rule) in map.iter().enumerate() {
        let found = if own {
            index.get(JOINT_NAMES[j]).map(|&i| (i, i))
        } else {
            match rule {
                Rule::One(names) => find(names).map(|i| (i, i)),
                Rule::Mid(a, b) => find(&[a]).zip(find(&[b])),
            }
        };
        let names = match rule {
            Rule::One(names) => names.join("|"),
            Rule::Mid(a, b) => format!("midpoint of {a} and {b}"),
        };
        pick.push(found.ok_or_else(|| {
            Error::file(
                file,
                format!(
                    "unknown skeleton: no joint for {} (looked for {names})",
                    JOINT_NAMES[j]
                ),
            )
        })?);
    }
    let frames: Vec<[P3; NUM_JOINTS]> = src
        .positions
        .iter()
        .map(|p| {
            std::array::from_fn(|j| {
                let (a, b) = pick[j];
                std::array::from_fn(|k| (p[a][k] + p[b][k]) / 2.0)
            })
        })
        .collect();
    let scale = src.metres_per_unit.unwrap_or_else(|| {
        let ys = frames[0].iter().map(|p| p[1]);
        let height = ys.clone().fold(f64::MIN, f64::max) - ys.fold(f64::MAX, f64::min);
        if height > 300.0 {
            0.001
        } else if height > 3.0 {
            0.01
        } else {
            1.0
        }
    });
    Ok(frames
        .into_iter()
        .map(|f| f.map(|p| p.map(|v| v * scale)))
        .collect())
}

/// Linear resampling from `fps` to [`TARGET_FPS`].
fn resample(frames: &[[P3; NUM_JOINTS]], fps: f64) -> Vec<[P3; NUM_JOINTS]> {
    let n = ((frames.len() - 1) as f64 * TARGET_FPS / fps).floor() as usize + 1;
    (0..n)
        .map(|k| {
            let s = k as f64 * fps / TARGET_FPS;
            let (i, w) = (s.floor() as usize, s.fract());
            let (a, b) = (&frames[i], &frames[(i + 1).min(frames.len() - 1)]);
            std::array::from_fn(|j| std::array::from_fn(|c| a[j][c] + (b[j][c] - a[j][c]) * w))
        })
        .collect()
}

/// Reads one motion file (`.bvh`, or `.amc` with its subject's `.asf` beside it) as `[T][22]`
/// joints in metres at 20 fps.
pub fn read_motion(path: &Path) -> Result<Vec<[P3; NUM_JOINTS]>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (src, map) = match ext.as_str() {
        "bvh" => (bvh::read(path)?, &BVH_MAP),
        "amc" => (asf::read(&skeleton_for(path)?, path, CMU_FPS)?, &ASF_MAP),
        _ => return Err(Error::file(path, "not a .bvh or .amc file")),
    };
    if src.positions.is_empty() {
        return Err(Error::file(path, "no frames"));
    }
    let joints = resample(&retarget(&src, map, path)?, src.fps);
    if joints.len() < 2 {
        return Err(Error::file(
            path,
            format!(
                "only {} frame(s) at 20 fps; a motion needs at least 2",
                joints.len()
            ),
        ));
    }
    Ok(joints)
}

/// The ASF of an AMC: `<subject>.asf` beside `<subject>_<trial>.amc`, else the folder's only `.asf`.
fn skeleton_for(amc: &Path) -> Result<PathBuf> {
    let dir = amc.parent().unwrap_or(Path::new("."));
    let stem = amc.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let subject = dir.join(format!("{}.asf", stem.split('_').next().unwrap_or(stem)));
    if subject.is_file() {
        return Ok(subject);
    }
    let asfs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("asf")))
                .collect()
        })
        .unwrap_or_default();
    match asfs.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::file(
            amc,
            format!("no skeleton: expected {} beside it", subject.display()),
        )),
    }
}

/// Caption of a clip: its line in `descriptions.tsv` beside it (CMU's `trial<TAB>description`), else
/// the file name in words.
fn description(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("motion")
        .to_string();
    let tsv = path.with_file_name("descriptions.tsv");
    let found = std::fs::read_to_string(tsv).ok().and_then(|t| {
        t.lines().find_map(|l| {
            l.split_once('\t')
                .filter(|(trial, _)| *trial == stem)
                .map(|(_, d)| d.trim().to_string())
        })
    });
    found
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| stem.replace(['_', '-'], " "))
}

/// Motion files under `paths` (files as given, folders searched for .bvh and .amc), sorted.
pub fn motion_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| Error::file(p, e.to_string()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        e.eq_ignore_ascii_case("bvh") || e.eq_ignore_ascii_case("amc")
                    })
                })
                .collect();
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(Error::file(p, "no such file or folder"));
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid(
            "no .bvh or .amc files in the given paths".into(),
        ));
    }
    Ok(out)
}

/// Imports `files` into the new folder `out` (ids = file stems; captions = descriptions).
pub fn import(
    files: &[PathBuf],
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<[usize; 3]> {
    let mut writer = FolderWriter::create(out)?;
    let mut sources = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, (file, split)) in files
        .iter()
        .zip(split_assignment(files.len(), 0))
        .enumerate()
    {
        progress(i, files.len());
        let joints = read_motion(file)?;
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("motion");
        let id: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !seen.insert(id.clone()) {
            return Err(Error::file(
                file,
                format!("a second clip named {id}; rename one of the files"),
            ));
        }
        let flat: Vec<f64> = joints.iter().flatten().flatten().copied().collect();
        let tensor = Tensor::from_slice(&flat).reshape([joints.len() as i64, NUM_JOINTS as i64, 3]);
        let caption = description(file).replace('#', " ");
        let _rows = writer.add(&id, &tensor, &[format!("{caption}##0.0#0.0")], split)?;
        sources.push(json!({"id": id, "file": file.display().to_string(), "frames": joints.len(), "caption": caption}));
    }
    progress(files.len(), files.len());
    writer.finish(
        "import.json",
        &json!({"importer": "keta data import", "fps": TARGET_FPS, "clips": sources}),
    )
}

#[cfg(test)]
mod tests;
