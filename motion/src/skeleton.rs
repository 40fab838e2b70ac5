//! The 22-joint HumanML3D / SMPL skeleton: names, parents, kinematic chains, the rest directions
//! used by inverse kinematics, and a T-pose in metres (Y up, facing +Z, left side at +X).

/// Number of joints.
pub const NUM_JOINTS: usize = 22;

/// Joint names in HumanML3D order (kinematic-phrases.md).
pub const JOINT_NAMES: [&str; NUM_JOINTS] = [
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
];

/// Parent of every joint (`None` for the pelvis), derived from [`KINEMATIC_CHAINS`].
pub const PARENTS: [Option<usize>; NUM_JOINTS] = [
    None,
    Some(0),
    Some(0),
    Some(0),
    Some(1),
    Some(2),
    Some(3),
    Some(4),
    Some(5),
    Some(6),
    Some(7),
    Some(8),
    Some(9),
    Some(9),
    Some(9),
    Some(12),
    Some(13),
    Some(14),
    Some(16),
    Some(17),
    Some(18),
    Some(19),
];

/// HumanML3D's `t2m_kinematic_chain`: right leg, left leg, spine to head, right arm, left arm.
pub const KINEMATIC_CHAINS: [&[usize]; 5] = [
    &[0, 2, 5, 8, 11],
    &[0, 1, 4, 7, 10],
    &[0, 3, 6, 9, 12, 15],
    &[9, 14, 17, 19, 21],
    &[9, 13, 16, 18, 20],
];

/// HumanML3D's `t2m_raw_offsets`: the unit direction of each joint's bone (from its parent) in the
/// rest pose that inverse kinematics measures rotations from. Note the arms hang down here.
pub const REST_DIRECTIONS: [[f64; 3]; NUM_JOINTS] = [
    [0., 0., 0.],
    [1., 0., 0.],
    [-1., 0., 0.],
    [0., 1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 1., 0.],
    [0., 0., 1.],
    [0., 0., 1.],
    [0., 1., 0.],
    [1., 0., 0.],
    [-1., 0., 0.],
    [0., 0., 1.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
];

/// Feet for contact labels, in feature order: left ankle, left foot, right ankle, right foot.
pub const FOOT_JOINTS: [usize; 4] = [7, 10, 8, 11];
/// Hips and shoulders that define the facing: (right hip, left hip, right shoulder, left shoulder).
pub const FACE_JOINTS: [usize; 4] = [2, 1, 17, 16];

/// Bone offsets from the parent in metres for an adult of about 1.75 m in a T-pose (arms out
/// along +-X, facing +Z), loosely following SMPL's mean shape.
pub const TPOSE_OFFSETS: [[f64; 3]; NUM_JOINTS] = [
    [0.0, 0.0, 0.0],
    [0.06, -0.09, 0.0],
    [-0.06, -0.09, 0.0],
    [0.0, 0.11, -0.01],
    [0.0, -0.38, 0.0],
    [0.0, -0.38, 0.0],
    [0.0, 0.13, 0.0],
    [0.0, -0.40, -0.01],
    [0.0, -0.40, -0.01],
    [0.0, 0.05, 0.02],
    [0.0, -0.05, 0.12],
    [0.0, -0.05, 0.12],
    [0.0, 0.21, -0.03],
    [0.07, 0.11, -0.02],
    [-0.07, 0.11, -0.02],
    [0.0, 0.09, 0.05],
    [0.11, 0.03, 0.0],
    [-0.11, 0.03, 0.0],
    [0.26, 0.0, 0.0],
    [-0.26, 0.0, 0.0],
    [0.25, 0.0, 0.0],
    [-0.25, 0.0, 0.0],
];

/// Pelvis height that puts the toes of [`TPOSE_OFFSETS`] on the floor (y = 0).
pub const TPOSE_PELVIS_HEIGHT: f64 = 0.92;

/// World positions `[22][3]` of the T-pose with the pelvis at (0, `TPOSE_PELVIS_HEIGHT`, 0).
pub fn tpose() -> [[f64; 3]; NUM_JOINTS] {
    let mut out = [[0.0; 3]; NUM_JOINTS];
    out[0] = [0.0, TPOSE_PELVIS_HEIGHT, 0.0];
    for j in 1..NUM_JOINTS {
        let p = PARENTS[j].expect("only the pelvis has no parent");
        for a in 0..3 {
            out[j][a] = out[p][a] + TPOSE_OFFSETS[j][a];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_agree_with_chains() {
        for chain in KINEMATIC_CHAINS {
            for w in chain.windows(2) {
                assert_eq!(PARENTS[w[1]], Some(w[0]), "joint {}", JOINT_NAMES[w[1]]);
            }
        }
        // Every joint but the root is reached by exactly one chain step.
        let mut seen = [0; NUM_JOINTS];
        for chain in KINEMATIC_CHAINS {
            for &j in &chain[1..] {
                seen[j] += 1;
            }
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1..].iter().all(|&n| n == 1));
    }

    #[test]
    fn tpose_stands_on_the_floor_facing_z_with_left_at_plus_x() {
        let p = tpose();
        let min_y = p.iter().map(|j| j[1]).fold(f64::INFINITY, f64::min);
        assert!(min_y.abs() < 1e-9, "lowest joint at {min_y}");
        assert!(p[1][0] > 0.0 && p[2][0] < 0.0, "left hip at +X");
        assert!(p[20][0] > 0.6 && p[21][0] < -0.6, "arms stretched sideways");
        assert!(p[10][2] > p[7][2], "toes in front of the ankles: facing +Z");
        assert!(
            p[15][1] > 1.45 && p[15][1] < 1.7,
            "head height {}",
            p[15][1]
        );
        // Rest directions point along the T-pose bones for the legs and spine.
        for j in [1, 2, 4, 5, 6, 12] {
            let par = PARENTS[j].unwrap();
            let d: Vec<f64> = (0..3).map(|a| p[j][a] - p[par][a]).collect();
            let n = d.iter().map(|x| x * x).sum::<f64>().sqrt();
            let cos: f64 = (0..3).map(|a| d[a] / n * REST_DIRECTIONS[j][a]).sum();
            assert!(cos > 0.5, "joint {} cos {cos}", JOINT_NAMES[j]);
        }
    }
}
