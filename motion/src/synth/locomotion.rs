//! Locomotion: walk, jog, run, walk backwards, side-step, march, turn and spin, with planned
//! footsteps (planted feet never slide) and arms swinging against the legs.

use std::f64::consts::PI;

use super::animator::{Animator, FPS};
use super::body::{neutral_ankle, rest_hand, LEFT, RIGHT};
use super::vec3::{smoothstep, v3, V3};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GaitKind {
    Walk,
    Jog,
    Run,
    Backwards,
    SideStep {
        side: usize,
    },
    March,
    /// Turn in place by an angle (radians, + = towards the left).
    Turn {
        angle: f64,
    },
    Spin {
        angle: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gait {
    pub kind: GaitKind,
    /// Speed along the travel direction (m/s); 0 for stepping in place.
    pub speed: f64,
    /// Turning while travelling (rad/s, + = left).
    pub turn_rate: f64,
    pub seconds: f64,
}

/// How a gait moves.
struct GaitStyle {
    /// Travel direction relative to the heading (radians).
    dir: f64,
    /// Gait cycles per second (two steps a cycle).
    cadence: f64,
    /// Fraction of a cycle each foot is on the ground.
    duty: f64,
    /// Swing height of the ankle (m).
    lift: f64,
    /// Pelvis bob amplitude (m).
    bob: f64,
    /// Extra knee bend, as a fraction of the leg length.
    bend: f64,
    /// Torso lean (radians, + forward).
    lean: f64,
    /// Arm swing amplitude (m).
    swing: f64,
}

const WALK: GaitStyle = GaitStyle {
    dir: 0.0,
    cadence: 0.95,
    duty: 0.62,
    lift: 0.07,
    bob: 0.012,
    bend: 0.0,
    lean: 0.04,
    swing: 0.18,
};

fn gait_style(kind: GaitKind) -> GaitStyle {
    match kind {
        GaitKind::Walk => WALK,
        GaitKind::Jog => GaitStyle {
            cadence: 1.35,
            duty: 0.42,
            lift: 0.12,
            bob: 0.03,
            bend: 0.04,
            lean: 0.1,
            swing: 0.22,
            ..WALK
        },
        GaitKind::Run => GaitStyle {
            cadence: 1.5,
            duty: 0.36,
            lift: 0.18,
            bob: 0.04,
            bend: 0.06,
            lean: 0.18,
            swing: 0.3,
            ..WALK
        },
        GaitKind::Backwards => GaitStyle {
            dir: PI,
            cadence: 0.85,
            duty: 0.64,
            lift: 0.06,
            bob: 0.01,
            lean: -0.05,
            swing: 0.1,
            ..WALK
        },
        GaitKind::SideStep { side } => {
            let dir = if side == LEFT { PI / 2.0 } else { -PI / 2.0 };
            GaitStyle {
                dir,
                cadence: 0.8,
                duty: 0.66,
                lift: 0.05,
                bob: 0.008,
                lean: 0.0,
                swing: 0.05,
                ..WALK
            }
        }
        GaitKind::March => GaitStyle {
            cadence: 0.9,
            duty: 0.6,
            lift: 0.3,
            bob: 0.01,
            lean: 0.0,
            swing: 0.25,
            ..WALK
        },
        GaitKind::Turn { .. } => GaitStyle {
            cadence: 1.0,
            duty: 0.65,
            lift: 0.05,
            bob: 0.005,
            lean: 0.0,
            swing: 0.05,
            ..WALK
        },
        GaitKind::Spin { .. } => GaitStyle {
            cadence: 1.4,
            duty: 0.6,
            lift: 0.06,
            bob: 0.005,
            bend: 0.03,
            lean: 0.0,
            swing: 0.1,
            ..WALK
        },
    }
}

/// Locomotion with planned footsteps: the pelvis follows a smooth path; each foot is planted at
/// the spot under its hip at the middle of its stance and swings to the next spot on an arc, so a
/// planted foot never slides. Speed ramps up and down over 0.6 s; the feet end side by side.
pub(super) fn gait(anim: &mut Animator, g: &Gait) {
    let body = anim.body;
    let start = anim.pose.clone();
    let GaitStyle {
        dir,
        cadence,
        duty,
        lift,
        bob,
        bend,
        lean,
        swing,
    } = gait_style(g.kind);
    let d = g.seconds;
    let n = (d * FPS).round() as usize;
    let ramp = |t: f64| smoothstep(t / 0.6) * smoothstep((d - t) / 0.6);
    // 1. The pelvis path and heading, frame by frame.
    let mut path = vec![(start.pelvis.x, start.pelvis.z, start.heading)];
    let (mut x, mut z, mut h) = (start.pelvis.x, start.pelvis.z, start.heading);
    for k in 1..=n {
        let t = k as f64 / FPS;
        h = match g.kind {
            GaitKind::Turn { angle } | GaitKind::Spin { angle } => {
                start.heading + angle * smoothstep((t - 0.15) / (d - 0.3))
            }
            _ => h + g.turn_rate * ramp(t) / FPS,
        };
        let v = g.speed * ramp(t) / FPS;
        x += v * (h + dir).sin();
        z += v * (h + dir).cos();
        path.push((x, z, h));
    }
    let at = |t: f64| path[((t * FPS).round() as usize).min(n)];
    let pelvis_at = |t: f64| {
        let (x, z, h) = at(t);
        (v3(x, 0.0, z), h)
    };
    // 2. Footsteps: lift-off times per foot, landing spots at mid-stance.
    let swing_time = (1.0 - duty) / cadence;
    let t0 = 0.15;
    let mut steps: [Vec<(f64, f64, V3, f64)>; 2] = [Vec::new(), Vec::new()]; // (lift, land, spot, yaw)
    for side in [LEFT, RIGHT] {
        let offset = if side == LEFT { 0.0 } else { 0.5 };
        let mut k = 0.0;
        loop {
            let lift = t0 + (k + offset) / cadence;
            let land = lift + swing_time;
            if land > d - 0.05 {
                break;
            }
            let next_lift = t0 + (k + 1.0 + offset) / cadence;
            let last = next_lift + swing_time > d - 0.05;
            let when = if last { d } else { (land + next_lift) / 2.0 };
            let (p, h) = pelvis_at(when.min(d));
            steps[side].push((lift, land, neutral_ankle(body, p, h, side), h));
            k += 1.0;
        }
    }
    // 3. Pelvis height: legs straight at the stride's extremes, bent between.
    let reach = (g.speed * duty / (2.0 * cadence)).min(0.45 * body.leg());
    let travel = body.ankle_height(0.0)
        + body.hip_drop()
        + ((0.985 * body.leg()) * (0.985 * body.leg()) - reach * reach).sqrt()
        - bend * body.leg();
    let stand = start.pelvis.y;
    anim.run(d, |t, s, p| {
        let (xz, h) = pelvis_at(t);
        let r = ramp(t);
        let y = stand
            + (travel.min(stand) - stand) * r
            + bob * r * (4.0 * PI * cadence * (t - t0)).cos();
        p.pelvis = v3(xz.x, y, xz.z);
        p.heading = h;
        p.lean = lean * r;
        for side in [LEFT, RIGHT] {
            let (mut from, mut from_yaw, mut lifted) = (s.ankles[side], s.foot_yaw[side], None);
            for &(lift, land, spot, yaw) in &steps[side] {
                if t < lift {
                    break;
                }
                if t < land {
                    lifted = Some(((t - lift) / (land - lift), spot, yaw));
                    break;
                }
                from = spot;
                from_yaw = yaw;
            }
            match lifted {
                None => {
                    p.ankles[side] = from;
                    p.foot_yaw[side] = from_yaw;
                    p.heel_raise[side] = 0.0;
                }
                Some((u, to, to_yaw)) => {
                    let e = smoothstep(u);
                    let arc = (PI * u).sin();
                    p.ankles[side] = from.lerp(to, e) + v3(0.0, lift * arc, 0.0);
                    p.foot_yaw[side] = from_yaw + (to_yaw - from_yaw) * e;
                    p.heel_raise[side] = 0.25 * arc;
                    p.ankles[side].y = p.ankles[side].y.max(body.ankle_height(p.heel_raise[side]));
                }
            }
        }
        // Arms swing against the legs; bent elbows when jogging or running.
        let phase = 2.0 * PI * cadence * (t - t0);
        let bent = matches!(g.kind, GaitKind::Jog | GaitKind::Run | GaitKind::March);
        for side in [LEFT, RIGHT] {
            let sign = if side == LEFT { -1.0 } else { 1.0 };
            let base = if bent {
                rest_hand(body, side).lerp(v3(0.0, -0.25, 0.25), 0.6)
            } else {
                rest_hand(body, side)
            };
            p.hands[side] = base + v3(0.0, 0.0, sign * swing * r * phase.sin());
        }
    });
}
