//! The 392-row phrase table, in the index order of kinematic-phrases.md (a contract). The table is
//! parsed from the spec's own compact notation, so the code and the document can be compared line by
//! line; a test pins the counts per type.

use std::sync::OnceLock;

/// Number of phrases per frame.
pub const NUM_PHRASES: usize = 392;

/// Body axis a value is projected on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Right,
    Forward,
    Up,
}

impl Axis {
    pub const ALL: [Axis; 3] = [Axis::Up, Axis::Right, Axis::Forward];

    /// Slot in the stacked `[u, r, f]` axes tensor.
    pub fn slot(self) -> usize {
        match self {
            Axis::Up => 0,
            Axis::Right => 1,
            Axis::Forward => 2,
        }
    }

    fn from_letter(c: char) -> Axis {
        match c {
            'r' => Axis::Right,
            'f' => Axis::Forward,
            'u' => Axis::Up,
            other => panic!("axis letter {other:?} in the phrase spec"),
        }
    }
}

/// The six phrase types, in index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhraseType {
    /// Position of a joint relative to the pelvis, frame-to-frame change (0-33).
    Pp,
    /// Distance between two joints, frame-to-frame change (34-114).
    Pdp,
    /// Relative position of two joints along an axis, a static fact (115-380; includes LOP).
    Prpp,
    /// Limb angle, frame-to-frame change (381-388).
    Lap,
    /// Pelvis velocity along an axis (389-391).
    Gvp,
}

impl PhraseType {
    pub const ALL: [PhraseType; 5] = [
        PhraseType::Pp,
        PhraseType::Pdp,
        PhraseType::Prpp,
        PhraseType::Lap,
        PhraseType::Gvp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhraseType::Pp => "PP",
            PhraseType::Pdp => "PDP",
            PhraseType::Prpp => "PRPP/LOP",
            PhraseType::Lap => "LAP",
            PhraseType::Gvp => "GVP",
        }
    }

    /// Index range of the type in the 392-vector.
    pub fn range(self) -> std::ops::Range<usize> {
        match self {
            PhraseType::Pp => 0..34,
            PhraseType::Pdp => 34..115,
            PhraseType::Prpp => 115..381,
            PhraseType::Lap => 381..389,
            PhraseType::Gvp => 389..392,
        }
    }

    /// True for types whose raw value is a per-frame change (they describe movement, not a state).
    pub fn is_dynamic(self) -> bool {
        self != PhraseType::Prpp
    }
}

/// What one index measures.
#[derive(Debug, Clone, PartialEq)]
pub enum PhraseKind {
    /// (p[joint] - p[pelvis]) . axis, differenced over time.
    Position { joint: usize, axis: Axis },
    /// |p[a] - p[b]|, differenced over time.
    Distance { a: usize, b: usize },
    /// (p[a] - p[b]) . axis; `limb` marks the 24 limb-orientation (LOP) values.
    Relative {
        a: usize,
        b: usize,
        axis: Axis,
        limb: bool,
    },
    /// Angle between p[a0] - p[a1] and p[b0] - p[b1], differenced over time.
    Angle {
        a: (usize, usize),
        b: (usize, usize),
        name: &'static str,
    },
    /// Pelvis displacement to the next frame along an axis of this frame.
    Velocity { axis: Axis },
}

/// A row of the table.
#[derive(Debug, Clone)]
pub struct Phrase {
    pub index: usize,
    pub kind_of: PhraseType,
    pub kind: PhraseKind,
    /// Readable sentence for a +1 and for a -1 value.
    pub positive: String,
    pub negative: String,
}

// Joint abbreviations of the spec -> HumanML3D indices. Le/Re (eyes) are the head: no eye joints here.
fn joint(abbr: &str) -> usize {
    match abbr {
        "P" => 0,
        "LH" => 1,
        "RH" => 2,
        "LK" => 4,
        "RK" => 5,
        "LF" => 10,
        "RF" => 11,
        "N" => 12,
        "H" | "Le" | "Re" => 15,
        "LS" => 16,
        "RS" => 17,
        "LE" => 18,
        "RE" => 19,
        "LW" => 20,
        "RW" => 21,
        other => panic!("joint {other:?} in the phrase spec"),
    }
}

fn joint_name(abbr: &str) -> &'static str {
    match abbr {
        "P" => "the pelvis",
        "LH" => "the left hip",
        "RH" => "the right hip",
        "LK" => "the left knee",
        "RK" => "the right knee",
        "LF" => "the left foot",
        "RF" => "the right foot",
        "N" => "the neck",
        "H" => "the head",
        "Le" => "the left eye",
        "Re" => "the right eye",
        "LS" => "the left shoulder",
        "RS" => "the right shoulder",
        "LE" => "the left elbow",
        "RE" => "the right elbow",
        "LW" => "the left wrist",
        "RW" => "the right wrist",
        other => panic!("joint {other:?} in the phrase spec"),
    }
}

const PP: &str = "LW:rfu RW:rfu LE:rfu RE:rfu LK:rfu RK:rfu LS:fu RS:fu H:rfu LF:rfu RF:rfu N:rfu";

const PDP: &str = "LW-{RW,RE,LK,RK,LS,RS,H,LF,RF,N,LH,RH,P}; RW-{LE,LK,RK,LS,RS,H,LF,RF,N,LH,RH,P}; \
LE-{RE,LK,RK,RS,H,LF,RF,N,LH,RH,P}; RE-{LK,RK,LS,H,LF,RF,N,LH,RH,P}; LK-{RK,LS,RS,H,RF,N,RH,P}; \
RK-{LS,RS,H,LF,N,LH,P}; LS-{RS,H,LF,RF}; RS-{H,LF,RF}; H-{LF,RF,LH,RH}; LF-{RF,N,LH,RH,P}; RF-{N,LH,RH,P}";

const PRPP: &str = "LW-RW:rfu *LW-LE:rfu LW-RE:rfu LW-LK:rfu LW-RK:rfu LW-LS:rfu LW-RS:rfu LW-H:rfu LW-LF:rf LW-RF:rf LW-N:fu \
LW-LH:ru LW-RH:ru LW-P:rfu RW-LE:rfu *RW-RE:rfu RW-LK:rfu RW-RK:rfu RW-LS:rfu RW-RS:rfu RW-H:rfu RW-LF:rf \
RW-RF:rf RW-N:fu RW-LH:ru RW-RH:ru RW-P:rfu LE-RE:rfu LE-LK:rfu LE-RK:rfu *LE-LS:rfu LE-RS:fu LE-H:rfu \
LE-LF:rf LE-RF:rf LE-N:fu LE-LH:ru LE-RH:ru LE-P:rfu LE-Le:rf LE-Re:rf RE-LK:rfu RE-RK:rfu RE-LS:fu \
*RE-RS:rfu RE-H:rfu RE-LF:rf RE-RF:rf RE-N:fu RE-LH:ru RE-RH:ru RE-P:rfu RE-Le:rf RE-Re:rf LK-RK:rfu \
LK-LS:rfu LK-RS:fu LK-H:rfu *LK-LF:rf LK-LF:u LK-RF:rfu LK-N:fu *LK-LH:ru LK-RH:u LK-P:rfu LK-Le:rf \
LK-Re:rf RK-LS:fu RK-RS:rfu RK-H:rfu RK-LF:rfu *RK-RF:rf RK-RF:u RK-N:fu RK-LH:u *RK-RH:ru RK-P:rfu \
RK-Le:rf RK-Re:rf LS-RS:fu LS-H:fu LS-LF:rf LS-RF:rf LS-LH:u LS-RH:u LS-P:fu RS-H:fu RS-LF:rf RS-RF:rf \
RS-LH:u RS-RH:u RS-P:fu H-LF:rfu H-RF:rfu *H-N:rfu H-LH:rfu H-RH:rfu H-P:rfu LF-RF:rfu LF-LH:r LF-RH:r \
LF-P:rfu LF-Le:rf LF-Re:rf RF-LH:r RF-RH:r RF-P:rfu RF-Le:rf RF-Re:rf N-LH:fu N-RH:fu *N-P:f N-P:u \
LH-RH:fu LH-P:fu RH-P:fu Le-Re:fu";

/// A limb vector p[x] - p[y], by joint abbreviations.
type LimbVector = (&'static str, &'static str);

/// LAP: (name, vector a, vector b); left side first, then right.
const LAP: [(&str, LimbVector, LimbVector); 8] = [
    ("left arm", ("LW", "LE"), ("LS", "LE")),
    ("left leg", ("LF", "LK"), ("LH", "LK")),
    ("left upper arm", ("LS", "LH"), ("LS", "LE")),
    ("left thigh", ("P", "N"), ("LH", "LK")),
    ("right arm", ("RW", "RE"), ("RS", "RE")),
    ("right leg", ("RF", "RK"), ("RH", "RK")),
    ("right upper arm", ("RS", "RH"), ("RS", "RE")),
    ("right thigh", ("P", "N"), ("RH", "RK")),
];

fn movement(axis: Axis) -> (&'static str, &'static str) {
    match axis {
        Axis::Right => ("to the right", "to the left"),
        Axis::Forward => ("forward", "backward"),
        Axis::Up => ("upwards", "downwards"),
    }
}

fn relation(axis: Axis) -> (&'static str, &'static str) {
    match axis {
        Axis::Right => ("to the right of", "to the left of"),
        Axis::Forward => ("in front of", "behind"),
        Axis::Up => ("above", "below"),
    }
}

fn pointing(axis: Axis) -> (&'static str, &'static str) {
    match axis {
        Axis::Right => ("right", "left"),
        Axis::Forward => ("forward", "backward"),
        Axis::Up => ("up", "down"),
    }
}

/// The limb named by a starred pair (vector p[a] - p[b] points from b to a).
fn limb_name(a: &str, b: &str) -> String {
    let name = match (a, b) {
        ("LW", "LE") => "the left forearm",
        ("RW", "RE") => "the right forearm",
        ("LE", "LS") => "the left upper arm",
        ("RE", "RS") => "the right upper arm",
        ("LK", "LF") => "the left shin (from foot to knee)",
        ("RK", "RF") => "the right shin (from foot to knee)",
        ("LK", "LH") => "the left thigh (from hip to knee)",
        ("RK", "RH") => "the right thigh (from hip to knee)",
        ("H", "N") => "the head (from the neck)",
        ("N", "P") => "the torso (from pelvis to neck)",
        other => panic!("limb {other:?} in the phrase spec"),
    };
    name.to_string()
}

fn build() -> Vec<Phrase> {
    let mut out = Vec::with_capacity(NUM_PHRASES);
    let mut push = |kind_of, kind, positive: String, negative: String| {
        out.push(Phrase {
            index: 0,
            kind_of,
            kind,
            positive,
            negative,
        });
    };
    for entry in PP.split_whitespace() {
        let (j, axes) = entry.split_once(':').expect("PP entries are JOINT:axes");
        for a in axes.chars().map(Axis::from_letter) {
            let (pos, neg) = movement(a);
            let who = joint_name(j);
            push(
                PhraseType::Pp,
                PhraseKind::Position {
                    joint: joint(j),
                    axis: a,
                },
                format!("{who} moves {pos}"),
                format!("{who} moves {neg}"),
            );
        }
    }
    for group in PDP.split(';') {
        let (a, rest) = group
            .trim()
            .split_once("-{")
            .expect("PDP groups are A-{B,...}");
        for b in rest.trim_end_matches('}').split(',') {
            let (an, bn) = (joint_name(a), joint_name(b));
            push(
                PhraseType::Pdp,
                PhraseKind::Distance {
                    a: joint(a),
                    b: joint(b),
                },
                format!("{an} moves away from {bn}"),
                format!("{an} moves towards {bn}"),
            );
        }
    }
    for entry in PRPP.split_whitespace() {
        let limb = entry.starts_with('*');
        let (pair, axes) = entry
            .trim_start_matches('*')
            .split_once(':')
            .expect("PRPP entries are A-B:axes");
        let (a, b) = pair.split_once('-').expect("PRPP pairs are A-B");
        for axis in axes.chars().map(Axis::from_letter) {
            let (pos, neg) = if limb {
                let (p, n) = pointing(axis);
                let l = limb_name(a, b);
                (format!("{l} points {p}"), format!("{l} points {n}"))
            } else {
                let (p, n) = relation(axis);
                let (an, bn) = (joint_name(a), joint_name(b));
                (format!("{an} is {p} {bn}"), format!("{an} is {n} {bn}"))
            };
            push(
                PhraseType::Prpp,
                PhraseKind::Relative {
                    a: joint(a),
                    b: joint(b),
                    axis,
                    limb,
                },
                pos,
                neg,
            );
        }
    }
    for (name, (a0, a1), (b0, b1)) in LAP {
        let (pos, neg) = match name {
            n if n.ends_with("upper arm") => (
                format!("the {n} lifts away from the body"),
                format!("the {n} lowers towards the body"),
            ),
            n if n.ends_with("thigh") => (
                format!("the {n} swings back (the hip extends)"),
                format!("the {n} lifts (the hip flexes)"),
            ),
            n => (format!("the {n} unbends"), format!("the {n} bends")),
        };
        push(
            PhraseType::Lap,
            PhraseKind::Angle {
                a: (joint(a0), joint(a1)),
                b: (joint(b0), joint(b1)),
                name,
            },
            pos,
            neg,
        );
    }
    for axis in [Axis::Up, Axis::Right, Axis::Forward] {
        let (pos, neg) = movement(axis);
        push(
            PhraseType::Gvp,
            PhraseKind::Velocity { axis },
            format!("the body moves {pos}"),
            format!("the body moves {neg}"),
        );
    }
    for (i, p) in out.iter_mut().enumerate() {
        p.index = i;
    }
    out
}

/// The table, built once.
pub fn phrase_table() -> &'static [Phrase] {
    static TABLE: OnceLock<Vec<Phrase>> = OnceLock::new();
    TABLE.get_or_init(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranges_follow_the_spec() {
        let t = phrase_table();
        assert_eq!(t.len(), NUM_PHRASES);
        for ty in PhraseType::ALL {
            let r = ty.range();
            assert!(t[r.clone()].iter().all(|p| p.kind_of == ty), "{ty:?}");
            assert!(!t
                .iter()
                .enumerate()
                .any(|(i, p)| p.kind_of == ty && !r.contains(&i)));
        }
        let lop = t
            .iter()
            .filter(|p| matches!(p.kind, PhraseKind::Relative { limb: true, .. }))
            .count();
        assert_eq!(lop, 24, "the 10 starred tokens expand to 24 LOP values");
        assert!(t
            .iter()
            .all(|p| p.index < NUM_PHRASES && !p.positive.is_empty() && p.positive != p.negative));
    }

    #[test]
    fn spot_checks_against_the_spec() {
        let t = phrase_table();
        // PP: LW:r, f, u are 0, 1, 2; LS has only f, u (18, 19).
        assert_eq!(
            t[2].kind,
            PhraseKind::Position {
                joint: 20,
                axis: Axis::Up
            }
        );
        assert_eq!(t[2].positive, "the left wrist moves upwards");
        assert_eq!(
            t[18].kind,
            PhraseKind::Position {
                joint: 16,
                axis: Axis::Forward
            }
        );
        assert_eq!(
            t[33].kind,
            PhraseKind::Position {
                joint: 12,
                axis: Axis::Up
            }
        );
        // PDP starts with LW-RW and ends with RF-P.
        assert_eq!(t[34].kind, PhraseKind::Distance { a: 20, b: 21 });
        assert_eq!(t[114].kind, PhraseKind::Distance { a: 11, b: 0 });
        // PRPP: LW-RW r, f, u, then the first LOP (LW-LE r).
        assert_eq!(
            t[115].kind,
            PhraseKind::Relative {
                a: 20,
                b: 21,
                axis: Axis::Right,
                limb: false
            }
        );
        assert_eq!(
            t[118].kind,
            PhraseKind::Relative {
                a: 20,
                b: 18,
                axis: Axis::Right,
                limb: true
            }
        );
        assert_eq!(
            t[380].kind,
            PhraseKind::Relative {
                a: 15,
                b: 15,
                axis: Axis::Up,
                limb: false
            },
            "Le-Re:u, constant"
        );
        assert!(matches!(
            t[381].kind,
            PhraseKind::Angle {
                name: "left arm",
                ..
            }
        ));
        assert_eq!(t[389].kind, PhraseKind::Velocity { axis: Axis::Up });
        assert_eq!(
            t[391].kind,
            PhraseKind::Velocity {
                axis: Axis::Forward
            }
        );
    }
}
