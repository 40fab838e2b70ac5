//! Turns actions into frames. Each action starts from the pose the previous one ended in; root and
//! feet are continuous by construction (actions start from the current pelvis and ankles), and the
//! upper-body channels (hands, torso, head) blend from where they were over the first 0.4 s.

use super::body::{Body, Pose};
use super::vec3::smoothstep;

/// Frames per second of everything the synthesiser makes.
pub const FPS: f64 = 20.0;
/// Time over which an action's upper-body channels blend in.
pub const BLEND_S: f64 = 0.4;

pub struct Animator<'a> {
    pub body: &'a Body,
    /// The pose at the end of what has been animated so far.
    pub pose: Pose,
    pub frames: Vec<Pose>,
}

impl<'a> Animator<'a> {
    pub fn new(body: &'a Body, start: Pose) -> Self {
        Animator {
            body,
            frames: vec![start.clone()],
            pose: start,
        }
    }

    /// Appends `round(seconds * FPS)` frames. `f(t, start, pose)` sets the pose at time `t` (seconds
    /// since the action began; `pose` arrives as a copy of `start`).
    pub fn run(&mut self, seconds: f64, mut f: impl FnMut(f64, &Pose, &mut Pose)) {
        let start = self.pose.clone();
        let n = (seconds * FPS).round().max(1.0) as usize;
        for k in 1..=n {
            let t = k as f64 / FPS;
            let mut pose = start.clone();
            f(t, &start, &mut pose);
            blend_upper(&start, &mut pose, smoothstep(t / BLEND_S));
            self.frames.push(pose.clone());
            self.pose = pose;
        }
    }

    /// Frame index the next appended frame will have.
    pub fn next_frame(&self) -> usize {
        self.frames.len()
    }
}

/// `pose`'s upper-body channels = lerp(from, pose, w).
pub fn blend_upper(from: &Pose, pose: &mut Pose, w: f64) {
    let mix = |a: f64, b: f64| a + (b - a) * w;
    pose.lean = mix(from.lean, pose.lean);
    pose.side_lean = mix(from.side_lean, pose.side_lean);
    pose.twist = mix(from.twist, pose.twist);
    pose.head_yaw = mix(from.head_yaw, pose.head_yaw);
    pose.head_pitch = mix(from.head_pitch, pose.head_pitch);
    for s in 0..2 {
        pose.hands[s] = from.hands[s].lerp(pose.hands[s], w);
        pose.elbow_pole[s] = from.elbow_pole[s].lerp(pose.elbow_pole[s], w);
    }
}
