//! The animated body: proportions sampled per clip, a pose made of a few meaningful channels
//! (pelvis, heading, torso, head, ankle targets, hand targets), and the pose -> 22 joints mapping
//! with two-bone inverse kinematics for the legs and arms. Bone lengths never change within a clip.

use rand::Rng;

use super::vec3::{v3, V3};
use crate::skeleton::{NUM_JOINTS, PARENTS, TPOSE_OFFSETS};

/// Left = 0, right = 1 (the left side is at +X for a body facing +Z).
pub const LEFT: usize = 0;
pub const RIGHT: usize = 1;

/// Bone offsets of one performer.
#[derive(Debug, Clone)]
pub struct Body {
    /// Offsets from the parent, body frame (facing +Z), metres.
    pub offsets: [V3; NUM_JOINTS],
    pub thigh: f64,
    pub shin: f64,
    pub upper_arm: f64,
    pub forearm: f64,
}

impl Body {
    /// The T-pose skeleton scaled to a height between about 1.5 and 1.95 m, with limb proportions
    /// varied by up to 6%.
    pub fn sample(rng: &mut impl Rng) -> Body {
        let scale = rng.random_range(0.86..1.12);
        let (legs, arms, torso) = (
            rng.random_range(0.94..1.06),
            rng.random_range(0.94..1.06),
            rng.random_range(0.95..1.05),
        );
        let mut offsets = [V3::default(); NUM_JOINTS];
        for (j, o) in TPOSE_OFFSETS.iter().enumerate() {
            let part = match j {
                4 | 5 | 7 | 8 => legs,
                16..=21 => arms,
                3 | 6 | 9 | 12 | 15 => torso,
                _ => 1.0,
            };
            offsets[j] = v3(o[0], o[1], o[2]) * (scale * part);
        }
        Body::from_offsets(offsets)
    }

    /// The unscaled T-pose skeleton of `skeleton.rs`.
    pub fn standard() -> Body {
        Body::from_offsets(TPOSE_OFFSETS.map(|o| v3(o[0], o[1], o[2])))
    }

    fn from_offsets(offsets: [V3; NUM_JOINTS]) -> Body {
        Body {
            thigh: offsets[4].norm(),
            shin: offsets[7].norm(),
            upper_arm: offsets[18].norm(),
            forearm: offsets[20].norm(),
            offsets,
        }
    }

    pub fn leg(&self) -> f64 {
        self.thigh + self.shin
    }

    pub fn arm(&self) -> f64 {
        self.upper_arm + self.forearm
    }

    /// Drop from the pelvis to the hip joints.
    pub fn hip_drop(&self) -> f64 {
        -self.offsets[1].y
    }

    /// Half the distance between the hips.
    pub fn hip_half_width(&self) -> f64 {
        self.offsets[1].x
    }

    /// Ankle-to-toe vector with the heel raised by `raise` radians (toe down), body frame.
    pub fn foot_vector(&self, raise: f64) -> V3 {
        self.offsets[10].pitch(raise)
    }

    /// Ankle height that puts the toe on the floor.
    pub fn ankle_height(&self, raise: f64) -> f64 {
        -self.foot_vector(raise).y
    }

    /// Pelvis height of a relaxed stand (knees a little soft).
    pub fn standing_height(&self) -> f64 {
        self.ankle_height(0.0) + self.hip_drop() + 0.98 * self.leg()
    }

    /// Position of a joint of the upper body relative to the pelvis in the body frame, at rest.
    pub fn rest_offset(&self, joint: usize) -> V3 {
        let mut p = V3::default();
        let mut j = joint;
        while let Some(parent) = PARENTS[j] {
            p = p + self.offsets[j];
            j = parent;
        }
        p
    }
}

/// What the animator sets each frame. World quantities are marked; the rest is in the body frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// World pelvis position.
    pub pelvis: V3,
    /// Facing, radians about +Y (0 = +Z).
    pub heading: f64,
    /// Torso pitch forward, roll to the right, and yaw relative to the hips (radians).
    pub lean: f64,
    pub side_lean: f64,
    pub twist: f64,
    pub head_yaw: f64,
    pub head_pitch: f64,
    /// World ankle positions, the feet's world yaw and heel raise (radians).
    pub ankles: [V3; 2],
    pub foot_yaw: [f64; 2],
    pub heel_raise: [f64; 2],
    /// Wrist targets relative to each shoulder, in the upper body's frame.
    pub hands: [V3; 2],
    /// Which way the elbows point, upper body frame.
    pub elbow_pole: [V3; 2],
}

impl Pose {
    /// Standing at `pelvis_xz` facing `heading`, arms hanging.
    pub fn standing(body: &Body, x: f64, z: f64, heading: f64) -> Pose {
        let mut pose = Pose {
            pelvis: v3(x, body.standing_height(), z),
            heading,
            lean: 0.0,
            side_lean: 0.0,
            twist: 0.0,
            head_yaw: 0.0,
            head_pitch: 0.0,
            ankles: [V3::default(); 2],
            foot_yaw: [heading; 2],
            heel_raise: [0.0; 2],
            hands: [rest_hand(body, LEFT), rest_hand(body, RIGHT)],
            elbow_pole: [v3(0.2, -0.3, -1.0), v3(-0.2, -0.3, -1.0)],
        };
        for side in [LEFT, RIGHT] {
            pose.ankles[side] = neutral_ankle(body, pose.pelvis, heading, side);
        }
        pose
    }
}

/// Hanging arm: the wrist a little out from the hip and slightly forward.
pub fn rest_hand(body: &Body, side: usize) -> V3 {
    let out = if side == LEFT { 0.05 } else { -0.05 };
    v3(out, -0.96 * body.arm(), 0.04)
}

/// Where a standing foot's ankle goes under the hip, on the floor.
pub fn neutral_ankle(body: &Body, pelvis: V3, heading: f64, side: usize) -> V3 {
    let hip = body.offsets[1 + side];
    let lateral = v3(hip.x * 1.05, 0.0, 0.0).yaw(heading);
    v3(
        pelvis.x + lateral.x,
        body.ankle_height(0.0),
        pelvis.z + lateral.z,
    )
}

/// Two-bone IK: joint positions (middle, end) reaching from `root` towards `target` with bone
/// lengths `a` and `b`, bending towards `pole`. Targets are reached exactly up to `soft` of the full
/// length; beyond, the reach saturates smoothly below full extension, so the limb never snaps
/// straight (the middle joint moves fastest near the singular, straight limb).
pub fn two_bone(root: V3, target: V3, a: f64, b: f64, pole: V3, soft: f64) -> (V3, V3) {
    let to = target - root;
    let (full, knee) = (a + b, soft * (a + b));
    let raw = to.norm();
    let d = if raw <= knee {
        raw
    } else {
        knee + (full - knee) * 0.98 * ((raw - knee) / (full - knee)).tanh()
    };
    let d = d.max((a - b).abs() + 1e-6);
    let dir = to.unit_or(v3(0.0, -1.0, 0.0));
    let cos = ((a * a + d * d - b * b) / (2.0 * a * d)).clamp(-1.0, 1.0);
    let bend = (pole - dir * pole.dot(dir))
        .unit_or(dir.cross(v3(1.0, 0.0, 0.0)).unit_or(v3(0.0, 0.0, 1.0)));
    let middle = root + dir * (a * cos) + bend * (a * (1.0 - cos * cos).sqrt());
    (middle, root + dir * d)
}

/// Fractions of a limb's length reached exactly: legs up to the gait's designed stretch (planted
/// feet must not move), arms less (hands are targets, not contacts).
const LEG_SOFT: f64 = 0.986;
const ARM_SOFT: f64 = 0.9;

/// The 22 joint positions of `pose`.
pub fn joints(body: &Body, pose: &Pose) -> [V3; NUM_JOINTS] {
    let o = &body.offsets;
    let mut p = [V3::default(); NUM_JOINTS];
    let hips = |v: V3| v.yaw(pose.heading);
    let torso = |v: V3, k: f64| {
        v.roll(pose.side_lean * k)
            .pitch(pose.lean * k)
            .yaw(pose.heading + pose.twist * k)
    };
    let upper = |v: V3| torso(v, 1.0);
    p[0] = pose.pelvis;
    p[1] = p[0] + hips(o[1]);
    p[2] = p[0] + hips(o[2]);
    // The lean and twist bend the spine from spine1 up, so the pelvis and its three children (hips,
    // spine1) stay rigid, as in a real skeleton (and a BVH export is exact).
    p[3] = p[0] + torso(o[3], 0.0);
    p[6] = p[3] + torso(o[6], 0.5);
    p[9] = p[6] + upper(o[9]);
    p[12] = p[9] + upper(o[12]);
    p[15] = p[12] + upper(o[15].pitch(pose.head_pitch).yaw(pose.head_yaw));
    for side in [LEFT, RIGHT] {
        let (collar, shoulder, elbow, wrist) = (13 + side, 16 + side, 18 + side, 20 + side);
        p[collar] = p[9] + upper(o[collar]);
        p[shoulder] = p[collar] + upper(o[shoulder]);
        let target = p[shoulder] + upper(pose.hands[side]);
        let (e, w) = two_bone(
            p[shoulder],
            target,
            body.upper_arm,
            body.forearm,
            upper(pose.elbow_pole[side]),
            ARM_SOFT,
        );
        p[elbow] = e;
        p[wrist] = w;

        let (hip, knee, ankle, foot) = (1 + side, 4 + side, 7 + side, 10 + side);
        // Knees point forward, and up when the leg lies along the floor (sitting).
        let knee_pole = hips(v3(0.0, 0.5, 1.0)).yaw(pose.foot_yaw[side] - pose.heading);
        let (k, a) = two_bone(
            p[hip],
            pose.ankles[side],
            body.thigh,
            body.shin,
            knee_pole,
            LEG_SOFT,
        );
        p[knee] = k;
        p[ankle] = a;
        p[foot] = a + body
            .foot_vector(pose.heel_raise[side])
            .yaw(pose.foot_yaw[side]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_pose_keeps_bone_lengths_and_puts_toes_on_the_floor() {
        let body = Body::standard();
        let p = joints(&body, &Pose::standing(&body, 1.0, -2.0, 0.7));
        for j in 1..NUM_JOINTS {
            let parent = PARENTS[j].unwrap();
            let len = (p[j] - p[parent]).norm();
            assert!(
                (len - body.offsets[j].norm()).abs() < 1e-9,
                "bone {j}: {len}"
            );
        }
        assert!(
            p[10].y.abs() < 1e-9 && p[11].y.abs() < 1e-9,
            "toes on the floor"
        );
        assert!(p[20].y < p[16].y - 0.4, "arms hang");
        assert!(p[15].y > 1.4);
    }

    #[test]
    fn two_bone_ik_reaches_reachable_targets_and_bends_towards_the_pole() {
        let (m, e) = two_bone(
            v3(0., 1., 0.),
            v3(0., 0.3, 0.2),
            0.4,
            0.4,
            v3(0., 0., 1.),
            0.99,
        );
        assert!((e - v3(0., 0.3, 0.2)).norm() < 1e-9);
        assert!(
            ((m - v3(0., 1., 0.)).norm() - 0.4).abs() < 1e-9 && ((e - m).norm() - 0.4).abs() < 1e-9
        );
        assert!(m.z > 0.2, "knee forward");
        let (_, far) = two_bone(
            v3(0., 1., 0.),
            v3(0., -5., 0.),
            0.4,
            0.4,
            v3(0., 0., 1.),
            0.9,
        );
        assert!(
            far.y > 0.2 && far.y < 0.22,
            "saturates just short of the full length: {}",
            far.y
        );
    }
}
