//! Whole-body action primitives with parameters: locomotion (walk, jog, run, walk backwards,
//! side-step, march, turn, spin), jumps (in place, forward, hop on one leg, jumping jacks), kick,
//! squat, crouch, bow, sit on the floor and stand up, stand still, look around, and the arm actions
//! of `arms.rs`. Each samples its parameters, names itself, and animates.

use std::f64::consts::PI;

use rand::Rng;

use super::animator::Animator;
use super::arms::{times, ArmAction};
use super::body::{neutral_ankle, rest_hand, Body, Pose, LEFT, RIGHT};
use super::locomotion::gait;
pub use super::locomotion::{Gait, GaitKind};
use super::vec3::{smoothstep, v3};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JumpStyle {
    InPlace,
    Forward { distance: f64 },
    Hop { side: usize },
    Jacks,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Gait(Gait),
    Jump { style: JumpStyle, count: usize },
    Kick { side: usize },
    Squat { count: usize },
    Crouch { seconds: f64 },
    Bow { depth: f64 },
    SitOnFloor { hold: f64 },
    StandStill { seconds: f64 },
    LookAround,
    Arms(ArmAction),
}

/// Number of distinct primitives [`Action::sample`] draws from.
pub const PRIMITIVES: usize = 29;

fn side_name(side: usize) -> &'static str {
    if side == LEFT {
        "left"
    } else {
        "right"
    }
}

fn turn_name(angle: f64) -> &'static str {
    if angle > 0.0 {
        "left"
    } else {
        "right"
    }
}

impl Action {
    /// Draws primitive `kind` (0..PRIMITIVES) with random parameters; amplitude and tempo vary.
    pub fn sample_kind(kind: usize, rng: &mut impl Rng) -> Action {
        let side = rng.random_range(0..2);
        let gait = |kind, speed: f64, seconds: f64| {
            Action::Gait(Gait {
                kind,
                speed,
                turn_rate: 0.0,
                seconds,
            })
        };
        match kind {
            0 => gait(
                GaitKind::Walk,
                rng.random_range(0.9..1.5),
                rng.random_range(2.0..4.5),
            ),
            1 => gait(
                GaitKind::Walk,
                rng.random_range(0.5..0.8),
                rng.random_range(2.5..4.5),
            ),
            2 => {
                let dir = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                Action::Gait(Gait {
                    kind: GaitKind::Walk,
                    speed: rng.random_range(0.9..1.3),
                    turn_rate: dir * rng.random_range(0.5..0.9),
                    seconds: rng.random_range(3.5..5.5),
                })
            }
            3 => gait(
                GaitKind::Jog,
                rng.random_range(1.8..2.6),
                rng.random_range(2.0..3.5),
            ),
            4 => gait(
                GaitKind::Run,
                rng.random_range(3.0..4.2),
                rng.random_range(1.8..3.0),
            ),
            5 => gait(
                GaitKind::Backwards,
                rng.random_range(0.6..0.9),
                rng.random_range(2.0..3.5),
            ),
            6 => gait(
                GaitKind::SideStep { side },
                rng.random_range(0.5..0.8),
                rng.random_range(2.0..3.0),
            ),
            7 => gait(GaitKind::March, 0.0, rng.random_range(2.5..4.0)),
            8 => {
                let angle = if rng.random_bool(0.5) { PI / 2.0 } else { PI }
                    * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                gait(GaitKind::Turn { angle }, 0.0, 1.0 + angle.abs() / PI * 1.2)
            }
            9 => {
                let angle = 2.0 * PI * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                gait(GaitKind::Spin { angle }, 0.0, rng.random_range(1.8..2.6))
            }
            10 => Action::Jump {
                style: JumpStyle::InPlace,
                count: rng.random_range(1..=3),
            },
            11 => Action::Jump {
                style: JumpStyle::Forward {
                    distance: rng.random_range(0.4..0.8),
                },
                count: rng.random_range(1..=2),
            },
            12 => Action::Jump {
                style: JumpStyle::Hop { side },
                count: rng.random_range(2..=4),
            },
            13 => Action::Jump {
                style: JumpStyle::Jacks,
                count: rng.random_range(2..=3),
            },
            14 => Action::Kick { side },
            15 => Action::Squat {
                count: rng.random_range(1..=2),
            },
            16 => Action::Crouch {
                seconds: rng.random_range(2.0..3.0),
            },
            17 => Action::Bow {
                depth: rng.random_range(0.6..1.0),
            },
            18 => Action::SitOnFloor {
                hold: rng.random_range(0.8..1.8),
            },
            19 => Action::StandStill {
                seconds: rng.random_range(1.5..3.0),
            },
            20 => Action::LookAround,
            21..=27 => Action::Arms(ArmAction::sample_kind(kind - 21, rng)),
            _ => Action::Gait(Gait {
                kind: GaitKind::Jog,
                speed: rng.random_range(1.6..2.2),
                turn_rate: if rng.random_bool(0.5) { 1.0 } else { -1.0 }
                    * rng.random_range(0.8..1.2),
                seconds: rng.random_range(3.0..4.5),
            }),
        }
    }

    pub fn sample(rng: &mut impl Rng) -> Action {
        let kind = rng.random_range(0..PRIMITIVES);
        Action::sample_kind(kind, rng)
    }

    pub fn duration(&self) -> f64 {
        match self {
            Action::Gait(g) => g.seconds,
            Action::Jump { style, count } => {
                let per = match style {
                    JumpStyle::Hop { .. } => 0.6,
                    JumpStyle::Jacks => 0.7,
                    _ => 1.1,
                };
                let extra = if matches!(style, JumpStyle::Hop { .. }) {
                    0.8
                } else {
                    0.2
                };
                per * (*count as f64
                    * if matches!(style, JumpStyle::Jacks) {
                        2.0
                    } else {
                        1.0
                    })
                    + extra
            }
            Action::Kick { .. } => 1.6,
            Action::Squat { count } => 0.2 + 2.0 * *count as f64,
            Action::Crouch { seconds } => *seconds,
            Action::Bow { .. } => 2.2,
            Action::SitOnFloor { hold } => 4.4 + hold,
            Action::StandStill { seconds } => *seconds,
            Action::LookAround => 3.2,
            Action::Arms(a) => a.duration(),
        }
    }

    /// True for actions that leave the legs free, so an arm action can run on top ("while").
    pub fn allows_arm_overlay(&self) -> bool {
        matches!(
            self,
            Action::Gait(Gait {
                kind: GaitKind::Walk
                    | GaitKind::Backwards
                    | GaitKind::SideStep { .. }
                    | GaitKind::March,
                ..
            }) | Action::StandStill { .. }
        )
    }

    /// (third person, gerund): ("walks forward slowly", "walking forward slowly").
    pub fn phrase(&self) -> (String, String) {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        match self {
            Action::Gait(g) => match g.kind {
                GaitKind::Walk if g.turn_rate != 0.0 => {
                    let d = turn_name(g.turn_rate);
                    (
                        format!("walks in a curve to the {d}"),
                        format!("walking in a curve to the {d}"),
                    )
                }
                GaitKind::Walk if g.speed < 0.85 => {
                    pair("walks forward slowly", "walking forward slowly")
                }
                GaitKind::Walk => pair("walks forward", "walking forward"),
                GaitKind::Jog if g.turn_rate != 0.0 => {
                    let d = turn_name(g.turn_rate);
                    (
                        format!("jogs in a circle to the {d}"),
                        format!("jogging in a circle to the {d}"),
                    )
                }
                GaitKind::Jog => pair("jogs forward", "jogging forward"),
                GaitKind::Run => pair("runs forward quickly", "running forward quickly"),
                GaitKind::Backwards => pair("walks backwards", "walking backwards"),
                GaitKind::SideStep { side } => {
                    let s = side_name(side);
                    (
                        format!("side-steps to the {s}"),
                        format!("side-stepping to the {s}"),
                    )
                }
                GaitKind::March => pair("marches in place", "marching in place"),
                GaitKind::Turn { angle } => {
                    let d = turn_name(angle);
                    if angle.abs() > 2.0 {
                        pair("turns around", "turning around")
                    } else {
                        (format!("turns to the {d}"), format!("turning to the {d}"))
                    }
                }
                GaitKind::Spin { angle } => {
                    let d = turn_name(angle);
                    (
                        format!("spins around to the {d}"),
                        format!("spinning around to the {d}"),
                    )
                }
            },
            Action::Jump { style, count } => match style {
                JumpStyle::InPlace if *count == 1 => pair("jumps up", "jumping up"),
                JumpStyle::InPlace => (
                    format!("jumps in place {}", times(*count)),
                    "jumping in place".into(),
                ),
                JumpStyle::Forward { .. } if *count == 1 => {
                    pair("jumps forward", "jumping forward")
                }
                JumpStyle::Forward { .. } => (
                    format!("jumps forward {}", times(*count)),
                    "jumping forward".into(),
                ),
                JumpStyle::Hop { side } => {
                    let s = side_name(*side);
                    (
                        format!("hops on the {s} leg"),
                        format!("hopping on the {s} leg"),
                    )
                }
                JumpStyle::Jacks => pair("does jumping jacks", "doing jumping jacks"),
            },
            Action::Kick { side } => {
                let s = side_name(*side);
                (
                    format!("kicks with the {s} leg"),
                    format!("kicking with the {s} leg"),
                )
            }
            Action::Squat { count } if *count == 1 => {
                pair("squats down and stands up", "squatting")
            }
            Action::Squat { count } => (format!("squats {}", times(*count)), "squatting".into()),
            Action::Crouch { .. } => pair("crouches down", "crouching"),
            Action::Bow { .. } => pair("bows", "bowing"),
            Action::SitOnFloor { .. } => pair(
                "sits down on the floor and stands back up",
                "sitting down on the floor",
            ),
            Action::StandStill { .. } => pair("stands still", "standing still"),
            Action::LookAround => pair("looks around", "looking around"),
            Action::Arms(a) => a.phrase(),
        }
    }

    pub fn animate(&self, anim: &mut Animator) {
        let body = anim.body;
        match self {
            Action::Gait(g) => gait(anim, g),
            Action::Jump { style, count } => jump(anim, *style, *count, self.duration()),
            Action::Kick { side } => kick(anim, *side),
            Action::Squat { .. } => {
                let d = self.duration();
                anim.run(d, |t, s, p| {
                    let u = ((t - 0.1).max(0.0) % 2.0) / 2.0;
                    let down = if t > d - 0.1 {
                        0.0
                    } else {
                        smoothstep(u / 0.4) * smoothstep((1.0 - u) / 0.4)
                    };
                    lower(body, s, p, down, 0.57, 0.45, -0.12);
                    for side in [LEFT, RIGHT] {
                        let forward = v3(
                            if side == LEFT { -0.08 } else { 0.08 },
                            -0.05,
                            0.8 * body.arm(),
                        );
                        p.hands[side] = rest_hand(body, side).lerp(forward, down);
                    }
                });
            }
            Action::Crouch { seconds } => {
                let d = *seconds;
                anim.run(d, |t, s, p| {
                    let down = smoothstep(t / 0.7) * smoothstep((d - t) / 0.7);
                    lower(body, s, p, down, 0.66, 0.6, -0.1);
                    for side in [LEFT, RIGHT] {
                        let knee = v3(
                            if side == LEFT { -0.05 } else { 0.05 },
                            -0.72 * body.arm(),
                            0.3,
                        );
                        p.hands[side] = rest_hand(body, side).lerp(knee, down);
                    }
                });
            }
            Action::Bow { depth } => {
                let d = self.duration();
                anim.run(d, |t, s, p| {
                    let w = smoothstep(t / 0.8) * smoothstep((d - t) / 0.8);
                    p.lean = depth * w;
                    p.head_pitch = 0.2 * w;
                    p.pelvis = s.pelvis - v3(0.0, 0.0, 0.06 * w).yaw(s.heading);
                });
            }
            Action::SitOnFloor { hold } => sit_on_floor(anim, *hold),
            Action::StandStill { seconds } => {
                anim.run(*seconds, |t, s, p| {
                    p.pelvis = s.pelvis + v3(0.008 * (1.3 * t).sin(), 0.0, 0.0).yaw(s.heading);
                    p.hands = [rest_hand(body, LEFT), rest_hand(body, RIGHT)];
                    p.lean = 0.0;
                    p.twist = 0.0;
                    p.side_lean = 0.0;
                    p.head_yaw = 0.0;
                    p.head_pitch = 0.0;
                });
            }
            Action::LookAround => {
                anim.run(3.2, |t, _, p| {
                    let yaw = if t < 1.0 {
                        smoothstep(t / 1.0)
                    } else if t < 2.2 {
                        1.0 - 2.0 * smoothstep((t - 1.0) / 1.2)
                    } else {
                        -1.0 + smoothstep((t - 2.2) / 1.0)
                    };
                    p.head_yaw = 1.0 * yaw;
                    p.twist = 0.3 * yaw;
                    p.hands = [rest_hand(body, LEFT), rest_hand(body, RIGHT)];
                });
            }
            Action::Arms(a) => {
                anim.run(a.duration(), |t, _, p| {
                    p.hands = [rest_hand(body, LEFT), rest_hand(body, RIGHT)];
                    p.lean = 0.0;
                    p.twist = 0.0;
                    p.side_lean = 0.0;
                    a.apply(body, t, p);
                });
            }
        }
    }
}

/// Lowers the pelvis by `down` (0..1) of the way to `fraction` of the standing leg height, leaning
/// `lean` and moving the hips back by `back` metres; the feet stay where they are.
fn lower(body: &Body, s: &Pose, p: &mut Pose, down: f64, fraction: f64, lean: f64, back: f64) {
    let floor = body.ankle_height(0.0) + body.hip_drop();
    let low = floor + fraction * body.leg();
    let y = s.pelvis.y + (low - s.pelvis.y) * down;
    p.pelvis = v3(s.pelvis.x, y, s.pelvis.z) + v3(0.0, 0.0, back * down).yaw(s.heading);
    p.lean = lean * down;
}
/// Jumps: crouch, push, fly (ballistic), land on the toes, absorb. The feet follow the pelvis in
/// the air and land where it takes them.
fn jump(anim: &mut Animator, style: JumpStyle, count: usize, d: f64) {
    let body = anim.body;
    let g = 9.81;
    let (per, flight, dip) = match style {
        JumpStyle::Hop { .. } => (0.6, 0.26, 0.06),
        JumpStyle::Jacks => (0.7, 0.3, 0.07),
        _ => (1.1, 0.36, 0.14),
    };
    let jumps = if matches!(style, JumpStyle::Jacks) {
        2 * count
    } else {
        count
    };
    let lead = if matches!(style, JumpStyle::Hop { .. }) {
        0.4
    } else {
        0.1
    };
    let raise = 0.5;
    let start = anim.pose.clone();
    let takeoff_y = body.ankle_height(raise) + body.hip_drop() + 0.99 * body.leg();
    // Pelvis and feet at each landing, computed jump by jump.
    let mut plan = Vec::new(); // (pelvis before, pelvis after, ankles after)
    let mut pelvis = start.pelvis;
    let mut ankles = start.ankles;
    for j in 0..jumps {
        let forward = match style {
            JumpStyle::Forward { distance } => distance,
            _ => 0.0,
        };
        let after = pelvis + v3(0.0, 0.0, forward).yaw(start.heading);
        let mut next = ankles;
        for side in [LEFT, RIGHT] {
            let mut a = neutral_ankle(body, after, start.heading, side);
            if matches!(style, JumpStyle::Jacks) && j % 2 == 0 {
                a = a + v3(if side == LEFT { 0.22 } else { -0.22 }, 0.0, 0.0).yaw(start.heading);
            }
            next[side] = a;
        }
        plan.push((pelvis, after, ankles, next));
        pelvis = after;
        ankles = next;
    }
    let hop_side = match style {
        JumpStyle::Hop { side } => Some(side),
        _ => None,
    };
    anim.run(d, |t, s, p| {
        let tj = t - lead;
        let j = ((tj.max(0.0)) / per) as usize;
        let (before, after, feet_before, feet_after) = plan[j.min(jumps - 1)];
        let u = if j >= jumps {
            per
        } else {
            tj.max(0.0) - j as f64 * per
        };
        let stand = s.pelvis.y;
        // Phases within one jump: crouch, push, flight, land, absorb.
        let (c_end, p_end) = ((per - flight) * 0.45, (per - flight) * 0.6);
        let (f_end, l_end) = (p_end + flight, p_end + flight + (per - flight) * 0.15);
        let mut pelvis = if j >= jumps { after } else { before };
        let mut feet = if j >= jumps { feet_after } else { feet_before };
        let mut heel = 0.0;
        let mut arms_up = 0.0;
        if j < jumps && tj >= 0.0 {
            if u < c_end {
                pelvis.y = stand - dip * smoothstep(u / c_end);
                arms_up = -0.4 * smoothstep(u / c_end);
            } else if u < p_end {
                let w = smoothstep((u - c_end) / (p_end - c_end));
                pelvis.y = stand - dip + (takeoff_y - stand + dip) * w;
                heel = raise * w;
                arms_up = -0.4 + 1.0 * w;
            } else if u < f_end {
                let tau = u - p_end;
                let v0 = g * flight / 2.0;
                let w = tau / flight;
                pelvis = before.lerp(after, w);
                pelvis.y = takeoff_y + v0 * tau - g * tau * tau / 2.0;
                heel = raise;
                arms_up = 0.6;
                for side in [LEFT, RIGHT] {
                    let from = feet_before[side] - before;
                    let to = feet_after[side] - after;
                    let rel = from.lerp(to, smoothstep(w));
                    feet[side] = v3(
                        pelvis.x + rel.x,
                        pelvis.y - takeoff_y + body.ankle_height(raise),
                        pelvis.z + rel.z,
                    );
                }
            } else {
                pelvis = after;
                feet = feet_after;
                let w = if u < l_end {
                    smoothstep((u - f_end) / (l_end - f_end))
                } else {
                    1.0
                };
                let back = smoothstep((u - l_end) / (per - l_end));
                heel = raise * (1.0 - w);
                pelvis.y = if u < l_end {
                    takeoff_y + (stand - dip - takeoff_y) * w
                } else {
                    stand - dip + dip * back
                };
                arms_up = 0.6 * (1.0 - back);
                for side in [LEFT, RIGHT] {
                    feet[side].y = body.ankle_height(heel);
                }
            }
        }
        p.pelvis = pelvis;
        for side in [LEFT, RIGHT] {
            p.ankles[side] = v3(
                feet[side].x,
                feet[side].y.max(body.ankle_height(heel)),
                feet[side].z,
            );
            p.heel_raise[side] = heel;
            let arms = if matches!(style, JumpStyle::Jacks) {
                // Arms go up while the feet spread (even jumps) and down while they close.
                let spread = if j >= jumps || tj < 0.0 {
                    0.0
                } else {
                    let w = smoothstep((u - p_end) / flight);
                    if j % 2 == 0 {
                        w
                    } else {
                        1.0 - w
                    }
                };
                let o = if side == LEFT { 1.0 } else { -1.0 };
                rest_hand(body, side).lerp(v3(o * 0.3, 0.85 * body.arm(), 0.0), spread)
            } else {
                let amount = if hop_side.is_some() { 0.3 } else { 1.0 };
                rest_hand(body, side) + v3(0.0, 0.3 * arms_up.max(0.0), 0.35 * arms_up) * amount
            };
            p.hands[side] = arms;
        }
        // Hopping: the free leg stays up, knee bent, foot behind.
        if let Some(side) = hop_side {
            let free = 1 - side;
            let up = smoothstep(t / 0.35) * smoothstep((d - t) / 0.35);
            let hip = p.pelvis + body.offsets[1 + free].yaw(s.heading);
            let lifted = hip + v3(0.0, -0.62 * body.leg(), -0.22 * body.leg()).yaw(s.heading);
            let ground = if t < d / 2.0 {
                s.ankles[free]
            } else {
                neutral_ankle(body, p.pelvis, s.heading, free)
            };
            p.ankles[free] = ground.lerp(lifted, up);
            p.heel_raise[free] = 0.6 * up;
            // Shift the pelvis over the standing foot.
            let shift = v3(if side == LEFT { 0.05 } else { -0.05 }, 0.0, 0.0).yaw(s.heading);
            p.pelvis = p.pelvis + shift * up;
        }
    });
}

/// A front kick: weight onto the standing leg, the kicking foot swings forward and up with the knee
/// chambered, then comes back to its spot.
fn kick(anim: &mut Animator, side: usize) {
    let body = anim.body;
    let stance = 1 - side;
    anim.run(1.6, |t, s, p| {
        let shift = smoothstep(t / 0.3) * smoothstep((1.6 - t) / 0.3);
        let o = if stance == LEFT { 1.0 } else { -1.0 };
        p.pelvis = s.pelvis + v3(o * 0.05 * shift, 0.0, 0.0).yaw(s.heading);
        let u = ((t - 0.3) / 0.9).clamp(0.0, 1.0);
        let rise = (PI * u).sin();
        let angle = 1.25 * rise * rise.sqrt(); // sin^1.5, without pow (bit-identical across builds)
        let chamber = 1.0 - 0.35 * (2.0 * PI * u).sin().abs() * (1.0 - (PI * u).sin());
        let hip = p.pelvis + body.offsets[1 + side].yaw(s.heading);
        let reach = 0.97 * body.leg() * chamber;
        let kicked = hip + v3(0.0, -reach * angle.cos(), reach * angle.sin()).yaw(s.heading);
        let w = smoothstep(u / 0.15) * smoothstep((1.0 - u) / 0.15);
        let home = s.ankles[side];
        p.ankles[side] = home.lerp(kicked, w);
        p.ankles[side].y = p.ankles[side].y.max(body.ankle_height(0.0));
        p.heel_raise[side] = -0.3 * w;
        p.lean = -0.18 * w;
        for arm in [LEFT, RIGHT] {
            let out = if arm == LEFT { 1.0 } else { -1.0 };
            p.hands[arm] = rest_hand(body, arm).lerp(v3(out * 0.35, -0.3, 0.1), shift);
        }
    });
}

/// Sit down on the floor (squat, then sit back with the legs out in front, hands behind on the
/// floor), stay, and stand back up at the same spot.
fn sit_on_floor(anim: &mut Animator, hold: f64) {
    let body = anim.body;
    let d = 4.4 + hold;
    anim.run(d, |t, s, p| {
        let down = if t < 2.2 {
            smoothstep(t / 2.2)
        } else if t < 2.2 + hold {
            1.0
        } else {
            1.0 - smoothstep((t - 2.2 - hold) / 2.2)
        };
        // Two stages: squat (0..0.5), then sit back onto the floor (0.5..1).
        let squat = smoothstep(down / 0.5);
        let sit = smoothstep((down - 0.5) / 0.5);
        let floor = body.ankle_height(0.0) + body.hip_drop();
        let squat_y = floor + 0.5 * body.leg();
        let sit_y = body.hip_drop() + 0.05;
        let y = s.pelvis.y + (squat_y - s.pelvis.y) * squat + (sit_y - squat_y) * sit;
        let back = -0.1 * squat - 0.25 * sit;
        p.pelvis = v3(s.pelvis.x, y, s.pelvis.z) + v3(0.0, 0.0, back).yaw(s.heading);
        p.lean = 0.45 * squat - 0.3 * sit;
        for side in [LEFT, RIGHT] {
            let out = if side == LEFT { 1.0 } else { -1.0 };
            let stretched = p.pelvis + v3(out * 0.12, 0.0, 0.82 * body.leg()).yaw(s.heading);
            let out_front = v3(stretched.x, body.ankle_height(0.0) + 0.01, stretched.z);
            p.ankles[side] = s.ankles[side].lerp(out_front, sit);
            p.heel_raise[side] = -0.9 * sit;
            let behind = v3(out * 0.15, -0.8 * body.arm(), -0.3);
            let forward = v3(-out * 0.05, -0.1, 0.75 * body.arm());
            p.hands[side] = rest_hand(body, side)
                .lerp(forward, squat * (1.0 - sit))
                .lerp(behind, sit);
        }
    });
}
