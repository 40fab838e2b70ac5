//! Arm actions: programs of wrist targets over time. They run as a whole-body action (standing) or
//! on top of another action ("walks forward while waving"), where they replace the arms' swing.

use std::f64::consts::PI;

use rand::Rng;

use super::body::{rest_hand, Body, Pose, LEFT, RIGHT};
use super::vec3::{smoothstep, v3, V3};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arms {
    Both,
    One(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ArmAction {
    Wave { side: usize, count: usize },
    Raise { arms: Arms },
    Clap { count: usize },
    Punch { side: usize, count: usize },
    Circles { count: usize },
    Throw { side: usize },
    Stretch,
}

fn side_name(side: usize) -> &'static str {
    if side == LEFT {
        "left"
    } else {
        "right"
    }
}

/// +1 towards the body's outside for `side` (the left side is at +X).
fn outward(side: usize) -> f64 {
    if side == LEFT {
        1.0
    } else {
        -1.0
    }
}

pub fn times(count: usize) -> &'static str {
    match count {
        1 => "once",
        2 => "twice",
        3 => "three times",
        4 => "four times",
        _ => "several times",
    }
}

/// Ramp up over `a` seconds, hold, ramp down over the last `a` seconds of `d`.
fn envelope(t: f64, d: f64, a: f64) -> f64 {
    smoothstep(t / a) * smoothstep((d - t) / a)
}

impl ArmAction {
    /// Number of arm action kinds.
    pub const KINDS: usize = 7;

    /// Any arm action with random parameters.
    pub fn sample(rng: &mut impl Rng) -> ArmAction {
        let kind = rng.random_range(0..Self::KINDS);
        Self::sample_kind(kind, rng)
    }

    /// Arm action `kind` (0..KINDS: wave, raise, clap, punch, circles, throw, stretch) with random
    /// side and count.
    pub fn sample_kind(kind: usize, rng: &mut impl Rng) -> ArmAction {
        let side = rng.random_range(0..2);
        let count = rng.random_range(1..=3);
        match kind {
            0 => ArmAction::Wave {
                side,
                count: count + 1,
            },
            1 => ArmAction::Raise {
                arms: if rng.random_bool(0.5) {
                    Arms::Both
                } else {
                    Arms::One(side)
                },
            },
            2 => ArmAction::Clap { count: count + 1 },
            3 => ArmAction::Punch { side, count },
            4 => ArmAction::Circles { count: count + 1 },
            5 => ArmAction::Throw { side },
            _ => ArmAction::Stretch,
        }
    }

    pub fn duration(&self) -> f64 {
        match self {
            ArmAction::Wave { count, .. } => 1.2 + 0.5 * *count as f64,
            ArmAction::Raise { .. } => 2.4,
            ArmAction::Clap { count } => 1.0 + 0.5 * *count as f64,
            ArmAction::Punch { count, .. } => 0.8 + 0.55 * *count as f64,
            ArmAction::Circles { count } => 1.2 + *count as f64,
            ArmAction::Throw { .. } => 2.0,
            ArmAction::Stretch => 3.0,
        }
    }

    /// (third person, gerund) of the verb phrase.
    pub fn phrase(&self) -> (String, String) {
        match self {
            ArmAction::Wave { side, count } => {
                let s = side_name(*side);
                (
                    format!("waves with the {s} hand {}", times(*count)),
                    format!("waving with the {s} hand"),
                )
            }
            ArmAction::Raise { arms: Arms::Both } => {
                ("raises both arms".into(), "raising both arms".into())
            }
            ArmAction::Raise {
                arms: Arms::One(side),
            } => {
                let s = side_name(*side);
                (
                    format!("raises the {s} arm"),
                    format!("raising the {s} arm"),
                )
            }
            ArmAction::Clap { count } => (format!("claps {}", times(*count)), "clapping".into()),
            ArmAction::Punch { side, count } => {
                let s = side_name(*side);
                let n = if *count == 1 {
                    String::new()
                } else {
                    format!(" {}", times(*count))
                };
                (
                    format!("punches with the {s} hand{n}"),
                    format!("punching with the {s} hand"),
                )
            }
            ArmAction::Circles { .. } => (
                "makes circles with both arms".into(),
                "circling both arms".into(),
            ),
            ArmAction::Throw { side } => {
                let s = side_name(*side);
                (
                    format!("throws something with the {s} hand"),
                    format!("throwing something with the {s} hand"),
                )
            }
            ArmAction::Stretch => (
                "stretches both arms over the head".into(),
                "stretching".into(),
            ),
        }
    }

    /// Sets the arms (and any torso motion the action implies) of `pose` at time `t` in [0, duration].
    pub fn apply(&self, body: &Body, t: f64, pose: &mut Pose) {
        let d = self.duration();
        let arm = body.arm();
        let rest = [rest_hand(body, LEFT), rest_hand(body, RIGHT)];
        let mix = |side: usize, target: V3, w: f64| rest[side].lerp(target, w);
        match self {
            ArmAction::Wave { side, count } => {
                let up = envelope(t, d, 0.6);
                let o = outward(*side);
                let swing = if t > 0.6 && t < 0.6 + 0.5 * *count as f64 {
                    (2.0 * PI * 2.0 * (t - 0.6)).sin()
                } else {
                    0.0
                };
                let target = v3(o * (0.3 + 0.1 * swing) * arm / 0.51, 0.25 * arm / 0.51, 0.1);
                pose.hands[*side] = mix(*side, target, up);
                pose.elbow_pole[*side] = v3(o, -1.0, 0.0);
            }
            ArmAction::Raise { arms } => {
                let up = envelope(t, d, 0.7);
                for side in [LEFT, RIGHT] {
                    if *arms == Arms::Both || *arms == Arms::One(side) {
                        pose.hands[side] =
                            mix(side, v3(outward(side) * 0.08, 0.97 * arm, 0.06), up);
                        pose.elbow_pole[side] = v3(outward(side), 0.0, -1.0);
                    }
                }
            }
            ArmAction::Clap { count } => {
                let on = envelope(t, d, 0.5);
                let gap = if t > 0.5 && t < 0.5 + 0.5 * *count as f64 {
                    0.5 + 0.5 * (2.0 * PI * 2.0 * (t - 0.5)).cos()
                } else {
                    1.0
                };
                for side in [LEFT, RIGHT] {
                    let o = outward(side);
                    let shoulder_x = body.rest_offset(16 + side).x.abs();
                    let target = v3(o * (0.015 + 0.12 * gap) - o * shoulder_x, -0.12, 0.62 * arm);
                    pose.hands[side] = mix(side, target, on);
                    pose.elbow_pole[side] = v3(o, -1.0, 0.0);
                }
            }
            ArmAction::Punch { side, count } => {
                let o = outward(*side);
                let guard = v3(-o * 0.1, -0.22, 0.2);
                let reach = v3(-o * 0.12, -0.02, 0.96 * arm);
                let on = envelope(t, d, 0.4);
                let tp = t - 0.4;
                let hit = if tp > 0.0 && tp < 0.55 * *count as f64 {
                    let u = (tp % 0.55) / 0.55;
                    if u < 0.3 {
                        smoothstep(u / 0.3)
                    } else {
                        1.0 - smoothstep((u - 0.3) / 0.7)
                    }
                } else {
                    0.0
                };
                pose.hands[*side] = mix(*side, guard.lerp(reach, hit), on);
                pose.twist = -o * 0.25 * hit;
                pose.elbow_pole[*side] = v3(o, -1.0, -0.3);
            }
            ArmAction::Circles { count } => {
                let on = envelope(t, d, 0.6);
                let phase = if t > 0.6 {
                    2.0 * PI * ((t - 0.6).min(*count as f64))
                } else {
                    0.0
                };
                for side in [LEFT, RIGHT] {
                    let o = outward(side);
                    let target = v3(
                        o * 0.85 * arm,
                        0.15 * phase.sin(),
                        0.15 * phase.cos() - 0.15,
                    );
                    pose.hands[side] = mix(side, target, on);
                    pose.elbow_pole[side] = v3(0.0, -0.3, -1.0);
                }
            }
            ArmAction::Throw { side } => {
                let o = outward(*side);
                let wind = v3(o * 0.15, 0.25, -0.3);
                let release = v3(-o * 0.1, 0.05, 0.9 * arm);
                let follow = v3(-o * 0.15, -0.4, 0.4);
                let (target, twist) = if t < 0.7 {
                    (
                        rest[*side].lerp(wind, smoothstep(t / 0.7)),
                        o * 0.4 * smoothstep(t / 0.7),
                    )
                } else if t < 1.05 {
                    let u = smoothstep((t - 0.7) / 0.35);
                    (wind.lerp(release, u), o * 0.4 - o * 0.7 * u)
                } else if t < 1.35 {
                    (release.lerp(follow, smoothstep((t - 1.05) / 0.3)), -o * 0.3)
                } else {
                    let u = smoothstep((t - 1.35) / 0.65);
                    (follow.lerp(rest[*side], u), -o * 0.3 * (1.0 - u))
                };
                pose.hands[*side] = target;
                pose.twist = twist;
                pose.lean = 0.12 * (-(t - 1.0) * (t - 1.0) / 0.1).exp();
                pose.elbow_pole[*side] = v3(o, -0.5, -1.0);
            }
            ArmAction::Stretch => {
                let up = envelope(t, d, 0.8);
                let sway = if t > 0.8 && t < d - 0.8 {
                    (2.0 * PI * (t - 0.8) / (d - 1.6)).sin()
                } else {
                    0.0
                };
                for side in [LEFT, RIGHT] {
                    pose.hands[side] = mix(side, v3(outward(side) * 0.1, 0.98 * arm, 0.0), up);
                    pose.elbow_pole[side] = v3(outward(side), 0.0, -1.0);
                }
                pose.side_lean = 0.22 * sway * up;
                pose.lean = -0.08 * up;
            }
        }
    }
}
