//! Extraction of the 392 kinematic phrases from joints (kinematic-phrases.md), batched tch code on
//! any device. `raw` gives the values after the time rules; `sign` and `soft` map them to -1/0/+1
//! (dead zone) and to tanh(v / tau_type) (differentiable).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::axes::body_axes;
use crate::error::{Error, Result};
use crate::phrases::{phrase_table, PhraseKind, PhraseType};

const NUM_JOINTS: i64 = 22;
const PELVIS: i64 = 0;
/// |v| below this is 0 in sign KP.
pub const DEAD_ZONE: f64 = 1e-3;

/// Sign (-1/0/+1) or soft (tanh) output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sign,
    Soft,
}

/// Per-type scales of soft KP: soft = tanh(raw / tau). The reference uses 1 everywhere, which leaves
/// per-frame changes (1e-3..5e-2) in tanh's flat-zero region; these defaults are about the 90th
/// percentile of |raw| per type (PRPP: the 75th) measured on the shared fixtures' moving clips
/// (docs/kinematic-phrases.md), so typical values fall in tanh's linear range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftScales {
    /// PP: change of a joint's pelvis-relative position along an axis per frame (m).
    pub pp: f64,
    /// PDP: change of a joint-joint distance per frame (m).
    pub pdp: f64,
    /// PRPP/LOP: relative position of two joints along an axis (m).
    pub prpp: f64,
    /// LAP: change of a limb angle per frame (rad).
    pub lap: f64,
    /// GVP: pelvis displacement per frame (m).
    pub gvp: f64,
}

impl Default for SoftScales {
    fn default() -> Self {
        Self {
            pp: 0.02,
            pdp: 0.01,
            prpp: 0.5,
            lap: 0.05,
            gvp: 0.05,
        }
    }
}

impl SoftScales {
    pub fn of(&self, ty: PhraseType) -> f64 {
        match ty {
            PhraseType::Pp => self.pp,
            PhraseType::Pdp => self.pdp,
            PhraseType::Prpp => self.prpp,
            PhraseType::Lap => self.lap,
            PhraseType::Gvp => self.gvp,
        }
    }

    /// `[392]` vector of tau in `like`'s dtype and device.
    fn vector(&self, like: &Tensor) -> Tensor {
        let taus: Vec<f64> = phrase_table().iter().map(|p| self.of(p.kind_of)).collect();
        Tensor::from_slice(&taus)
            .to_kind(like.kind())
            .to_device(like.device())
    }
}

/// Checks `joints [T, 22, 3]` or `[B, T, 22, 3]` and the true lengths; returns `[B, T, 22, 3]` and
/// lengths `[B]` (all T when `lengths` is `None`).
fn checked(joints: &Tensor, lengths: Option<&[i64]>) -> Result<(Tensor, Vec<i64>)> {
    let size = joints.size();
    let shape_ok = matches!(size.len(), 3 | 4)
        && size[size.len() - 2] == NUM_JOINTS
        && size[size.len() - 1] == 3;
    if !shape_ok {
        return Err(Error::Shape {
            expected: "joints [T, 22, 3] or [B, T, 22, 3]".into(),
            got: size,
        });
    }
    let j = if size.len() == 3 {
        joints.unsqueeze(0)
    } else {
        joints.shallow_clone()
    };
    let (b, t) = (j.size()[0], j.size()[1]);
    let lengths = match lengths {
        Some(l) if l.len() as i64 != b => {
            return Err(Error::Invalid(format!(
                "{} lengths given for a batch of {b}",
                l.len()
            )))
        }
        Some(l) => l.to_vec(),
        None => vec![t; b as usize],
    };
    if let Some(&bad) = lengths.iter().find(|&&l| l < 2 || l > t) {
        return Err(Error::Invalid(format!(
            "kinematic phrases need 2..={t} frames per sequence, got a length of {bad} (T < 2 has no motion)"
        )));
    }
    let count = j.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
    if count > 0 {
        return Err(Error::NonFinite { count });
    }
    Ok((j, lengths))
}

/// v_t - v_{t-1} along dim 1, frame 0 copying frame 1: `[B, T, K]` -> `[B, T, K]`.
fn frame_difference(v: &Tensor) -> Tensor {
    let t = v.size()[1];
    let d = v.narrow(1, 1, t - 1) - v.narrow(1, 0, t - 1);
    Tensor::cat(&[d.narrow(1, 0, 1), d], 1)
}

/// Raw values `[B, T, 392]` (or `[T, 392]` for unbatched input) after the time rules. Frames at or
/// after each sequence's true length are 0; nothing there reaches a real frame.
pub fn raw(joints: &Tensor, lengths: Option<&[i64]>) -> Result<Tensor> {
    let unbatched = joints.dim() == 3;
    let (p, lengths) = checked(joints, lengths)?;
    let out = raw_values(&p, &lengths);
    Ok(if unbatched { out.squeeze_dim(0) } else { out })
}

/// Every vector the phrases need is p[a] - p[b]: one pair of gathers makes all 397 of them (few
/// kernels: kernel launches, not arithmetic, bound this on a GPU).
/// Columns: PP 34 | PRPP 266 | PDP 81 | LAP a 8 | LAP b 8.
struct Plan {
    a: Tensor,
    b: Tensor,
    /// Axis slot (u, r, f) of each projected column (PP then PRPP), `[300]`.
    slot: Tensor,
}

const N_PP: i64 = 34;
const N_PRPP: i64 = 266;
const N_PDP: i64 = 81;
const N_LAP: i64 = 8;

impl Plan {
    fn new(like: &Tensor) -> Plan {
        let table = phrase_table();
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let mut slots: Vec<i64> = Vec::new();
        let mut lap_b = Vec::new();
        let of = |ty: PhraseType| table[ty.range()].iter().map(|ph| &ph.kind);
        for k in of(PhraseType::Pp) {
            let PhraseKind::Position { joint, axis } = k else {
                unreachable!("PP range holds positions")
            };
            pairs.push((*joint, PELVIS as usize));
            slots.push(axis.slot() as i64);
        }
        for k in of(PhraseType::Prpp) {
            let PhraseKind::Relative { a, b, axis, .. } = k else {
                unreachable!("PRPP range holds relations")
            };
            pairs.push((*a, *b));
            slots.push(axis.slot() as i64);
        }
        for k in of(PhraseType::Pdp) {
            let PhraseKind::Distance { a, b } = k else {
                unreachable!("PDP range holds distances")
            };
            pairs.push((*a, *b));
        }
        for k in of(PhraseType::Lap) {
            let PhraseKind::Angle { a, b, .. } = k else {
                unreachable!("LAP range holds angles")
            };
            pairs.push(*a);
            lap_b.push(*b);
        }
        pairs.extend(lap_b);
        let index = |v: Vec<i64>| Tensor::from_slice(&v).to_device(like.device());
        Plan {
            a: index(pairs.iter().map(|p| p.0 as i64).collect()),
            b: index(pairs.iter().map(|p| p.1 as i64).collect()),
            slot: index(slots),
        }
    }
}

fn raw_values(p: &Tensor, lengths: &[i64]) -> Tensor {
    let (b, t) = (p.size()[0], p.size()[1]);
    let plan = Plan::new(p);
    let axes = body_axes(p);
    let axes = Tensor::stack(&[axes.up, axes.right, axes.forward], 2); // [B, T, 3 (u r f), 3 (xyz)]

    // 1. Every needed vector p[a] - p[b] at once (a == b, the head-head "eye" pairs, gives 0).
    let vectors = p.index_select(2, &plan.a) - p.index_select(2, &plan.b); // [B, T, 397, 3]
    let projected = vectors.narrow(2, 0, N_PP + N_PRPP); // [B, T, 300, 3]
    let distances = vectors.narrow(2, N_PP + N_PRPP, N_PDP); // [B, T, 81, 3]
    let lap_a = vectors.narrow(2, N_PP + N_PRPP + N_PDP, N_LAP); // [B, T, 8, 3]
    let lap_b = vectors.narrow(2, N_PP + N_PRPP + N_PDP + N_LAP, N_LAP); // [B, T, 8, 3]

    // 2. PP and PRPP: projections on each value's own axis of frame t.
    let own_axis = axes.index_select(2, &plan.slot); // [B, T, 300, 3]
    let relative = (own_axis * projected).sum_dim_intlist(-1, false, p.kind()); // [B, T, 300]
    let pp = relative.narrow(-1, 0, N_PP);
    let prpp = relative.narrow(-1, N_PP, N_PRPP);

    // 3. PDP: true distances (a norm with a zero subgradient at 0).
    let pdp = distances.norm_scalaropt_dim(2, [-1], false); // [B, T, 81]

    // 4. LAP: arccos(clamp((a . b_hat) / (|a| + 1e-5), -1, 1)).
    let norm = |v: &Tensor| v.norm_scalaropt_dim(2, [-1], false); // [B, T, 8]
    let b_hat = &lap_b / (norm(&lap_b) + 1e-5).unsqueeze(-1);
    let cos = (&lap_a * b_hat).sum_dim_intlist(-1, false, p.kind()) / (norm(&lap_a) + 1e-5);
    let lap = cos.clamp(-1.0, 1.0).acos(); // [B, T, 8]

    // 5. Time rule of the movement types: differences, frame 0 copying frame 1.
    let moving = frame_difference(&Tensor::cat(&[pp, pdp, lap], -1)); // [B, T, 123]
    let pp = moving.narrow(-1, 0, N_PP);
    let pdp = moving.narrow(-1, N_PP, N_PDP);
    let lap = moving.narrow(-1, N_PP + N_PDP, N_LAP);

    // 6. GVP: (pelvis_{t+1} - pelvis_t) . [u, r, f]_t; the last real frame copies the one before.
    let pelvis = p.select(2, PELVIS); // [B, T, 3]
    let step = (pelvis.narrow(1, 1, t - 1) - pelvis.narrow(1, 0, t - 1)).unsqueeze(2); // [B, T-1, 1, 3]
    let gvp = (axes.narrow(1, 0, t - 1) * step).sum_dim_intlist(-1, false, p.kind()); // [B, T-1, 3]
    let frame = Tensor::arange(t, (Kind::Int64, p.device())).view([1, t]);
    let last_step = Tensor::from_slice(lengths)
        .to_device(p.device())
        .view([b, 1])
        - 2;
    let src = frame
        .minimum(&last_step)
        .clamp_max(t - 2)
        .expand([b, t], false); // [B, T]
    let gvp = gvp.gather(1, &src.unsqueeze(-1).expand([b, t, 3], false), false);

    let all = Tensor::cat(&[pp, pdp, prpp, lap, gvp], -1); // [B, T, 392]
    let real = frame
        .lt_tensor(&(last_step + 2))
        .unsqueeze(-1)
        .to_kind(all.kind()); // [B, T, 1]
    all * real
}

/// -1/0/+1 of raw values with the dead zone |v| < [`DEAD_ZONE`].
pub fn sign(raw: &Tensor) -> Tensor {
    raw.sign() * raw.abs().ge(DEAD_ZONE).to_kind(raw.kind())
}

/// tanh(raw / tau_type): differentiable.
pub fn soft(raw: &Tensor, scales: &SoftScales) -> Tensor {
    (raw / scales.vector(raw)).tanh()
}

/// Sign or soft KP `[B, T, 392]` (or `[T, 392]`) of joints; padded frames are 0.
pub fn extract(
    joints: &Tensor,
    lengths: Option<&[i64]>,
    mode: Mode,
    scales: &SoftScales,
) -> Result<Tensor> {
    let r = raw(joints, lengths)?;
    Ok(match mode {
        Mode::Sign => sign(&r),
        Mode::Soft => soft(&r, scales),
    })
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
