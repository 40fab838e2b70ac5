//! Joints <-> the 263-d HumanML3D feature rows (representation.md, a contract).
//!
//! Forward (`features_from_joints`): canonical placement, then root yaw velocity, root displacement,
//! root height, rotation-invariant joint positions (RIC), 6D local rotations from inverse kinematics,
//! local joint velocities and foot contacts. Recovery (`joints_from_features`): root from the
//! integrated yaw and displacement, joints from RIC. Both are batched tch code on any device and
//! dtype; the recovery is differentiable (it sits inside training losses).

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::rotation::{
    qbetween, qinv, qmul, quat_from_yaw, quat_to_matrix, rotate_y, vec3_like, wrap_angle,
};
use crate::skeleton::{FACE_JOINTS, FOOT_JOINTS, KINEMATIC_CHAINS, NUM_JOINTS, REST_DIRECTIONS};

/// Width of a feature row.
pub const FEATURE_DIM: usize = 263;
/// Squared per-frame displacement (m^2) under which a foot joint counts as in contact.
pub const FOOT_CONTACT_THRESHOLD: f64 = 0.002;

/// Dimension ranges of the feature row, named as in representation.md.
pub mod dims {
    use std::ops::Range;
    pub const ROOT_YAW_VELOCITY: Range<usize> = 0..1;
    pub const ROOT_LINEAR_VELOCITY: Range<usize> = 1..3;
    pub const ROOT_HEIGHT: Range<usize> = 3..4;
    pub const RIC: Range<usize> = 4..67;
    pub const ROTATIONS_6D: Range<usize> = 67..193;
    pub const LOCAL_VELOCITY: Range<usize> = 193..259;
    pub const FOOT_CONTACTS: Range<usize> = 259..263;
    /// The groups whose standard deviations are averaged for `Std.npy`.
    pub const STD_GROUPS: [Range<usize>; 7] = [
        ROOT_YAW_VELOCITY,
        ROOT_LINEAR_VELOCITY,
        ROOT_HEIGHT,
        RIC,
        ROTATIONS_6D,
        LOCAL_VELOCITY,
        FOOT_CONTACTS,
    ];
}

/// Checks `joints [..., T, 22, 3]` with `T >= min_frames` and finite values; returns it as `[B, T, 22, 3]`.
fn batched_joints(joints: &Tensor, min_frames: i64) -> Result<Tensor> {
    let size = joints.size();
    let n = size.len();
    if n < 3 || size[n - 2] != NUM_JOINTS as i64 || size[n - 1] != 3 || size[n - 3] < min_frames {
        return Err(Error::Shape {
            expected: format!("[..., T >= {min_frames}, 22, 3] joints"),
            got: size,
        });
    }
    check_finite(joints, "joints")?;
    Ok(joints.reshape([-1, size[n - 3], NUM_JOINTS as i64, 3]))
}

/// Errors when `t` holds NaN or Inf.
pub fn check_finite(t: &Tensor, what: &str) -> Result<()> {
    let bad = t.isfinite().logical_not().flatten(0, -1);
    let count = bad.sum(Kind::Int64).int64_value(&[]) as usize;
    if count > 0 {
        let first = bad.to_kind(Kind::Int).argmax(0, false).int64_value(&[]) as usize;
        return Err(Error::NonFinite {
            what: what.to_string(),
            count,
            first,
        });
    }
    Ok(())
}

/// Heading `psi [B, T]`: the angle about +Y from +Z to the facing of each frame of `joints [B, T, 22, 3]`.
/// The facing is (0,1,0) x across, across = (R_hip - L_hip) + (R_shoulder - L_shoulder); atan2 of the
/// ground-plane direction needs no normalisation.
pub fn heading(joints: &Tensor) -> Tensor {
    let j = |i: usize| joints.select(-2, i as i64);
    let [r_hip, l_hip, r_sdr, l_sdr] = FACE_JOINTS;
    let across = (j(r_hip) - j(l_hip)) + (j(r_sdr) - j(l_sdr));
    // (0,1,0) x (ax, ay, az) = (az, 0, -ax)
    let (fx, fz) = (across.select(-1, 2), -across.select(-1, 0));
    fx.atan2(&fz)
}

/// Canonical placement of `joints [..., T, 22, 3]` (T >= 1): lowest joint of the clip on the floor,
/// root x, z of frame 0 at the origin, frame 0 facing +Z.
pub fn canonicalize(joints: &Tensor) -> Result<Tensor> {
    let j = batched_joints(joints, 1)?;
    Ok(canonical(&j).reshape(joints.size()))
}

fn canonical(j: &Tensor) -> Tensor {
    let floor = j.select(-1, 1).amin([1, 2], false); // [B]
    let origin = j.select(1, 0).select(1, 0); // [B, 3] root at frame 0
    let shift = Tensor::stack(&[origin.select(-1, 0), floor, origin.select(-1, 2)], -1); // [B, 3]
    let placed = j - shift.view([-1, 1, 1, 3]);
    let psi0 = heading(&placed.narrow(1, 0, 1)).view([-1, 1, 1]); // [B, 1, 1]
    rotate_y(&placed, &(-psi0))
}

/// Features `[..., T-1, 263]` (raw, not normalised) of joints `[..., T, 22, 3]`, T >= 2.
pub fn features_from_joints(joints: &Tensor) -> Result<Tensor> {
    let size = joints.size();
    let j = batched_joints(joints, 2)?;
    let feats = features_of_canonical(&canonical(&j));
    let mut out = size[..size.len() - 2].to_vec();
    let t = out.len() - 1;
    out[t] -= 1;
    out.push(FEATURE_DIM as i64);
    Ok(feats.reshape(out))
}

/// The rows for canonical joints `g [B, T, 22, 3]` -> `[B, T-1, 263]`.
fn features_of_canonical(g: &Tensor) -> Tensor {
    let t = g.size()[1];
    let (first, next) = (g.narrow(1, 0, t - 1), g.narrow(1, 1, t - 1)); // [B, T-1, 22, 3] each
    let psi = heading(g); // [B, T]
    let (psi_now, psi_next) = (psi.narrow(1, 0, t - 1), psi.narrow(1, 1, t - 1));

    // 1. Root: yaw velocity, displacement in the facing of t+1, height.
    let yaw_vel = wrap_angle(&(&psi_next - &psi_now)) * -0.5; // [B, T-1]
    let root_disp = rotate_y(&(next.select(2, 0) - first.select(2, 0)), &(-&psi_next)); // [B, T-1, 3]
    let root = Tensor::stack(
        &[
            yaw_vel,
            root_disp.select(-1, 0),
            root_disp.select(-1, 2),
            first.select(2, 0).select(-1, 1),
        ],
        -1,
    ); // [B, T-1, 4]

    // 2. RIC: joints 1..21 relative to the root in x, z (y absolute), in the facing of frame t.
    let root_xz = first.select(2, 0) * vec3_like([1.0, 0.0, 1.0], g); // [B, T-1, 3]
    let ric = rotate_y(&(&first - root_xz.unsqueeze(2)), &(-&psi_now).unsqueeze(-1)); // [B, T-1, 22, 3]
    let ric = ric.narrow(2, 1, NUM_JOINTS as i64 - 1).flatten(2, 3); // [B, T-1, 63]

    // 3. 6D local rotations of joints 1..21 from inverse kinematics.
    let rot6d = local_rotations_6d(&first, &psi_now); // [B, T-1, 126]

    // 4. Joint displacements t -> t+1 in the facing of frame t.
    let local_vel = rotate_y(&(&next - &first), &(-&psi_now).unsqueeze(-1)).flatten(2, 3); // [B, T-1, 66]

    // 5. Foot contacts from squared displacement.
    let feet = Tensor::from_slice(&FOOT_JOINTS.map(|i| i as i64)).to_device(g.device());
    let disp = (next.index_select(2, &feet) - first.index_select(2, &feet))
        .square()
        .sum_dim_intlist(-1, false, g.kind()); // [B, T-1, 4]
    let contacts = disp.lt(FOOT_CONTACT_THRESHOLD).to_kind(g.kind());

    Tensor::cat(&[root, ric, rot6d, local_vel, contacts], -1)
}

/// 6D rotations `[B, T, 126]` of joints 1..21 of `g [B, T, 22, 3]` with headings `psi [B, T]`:
/// along each chain, starting from the facing rotation, global = qbetween(rest, bone) and
/// local = parent^-1 * global (HumanML3D's `inverse_kinematics_np`; every chain restarts from the
/// facing rotation, the arms included).
fn local_rotations_6d(g: &Tensor, psi: &Tensor) -> Tensor {
    let facing = quat_from_yaw(&(-psi)); // [B, T, 4]: world -> body facing +Z
    let mut local: Vec<Option<Tensor>> = (0..NUM_JOINTS).map(|_| None).collect();
    for chain in KINEMATIC_CHAINS {
        let mut parent = facing.shallow_clone();
        for w in chain.windows(2) {
            let (from, to) = (w[0] as i64, w[1] as i64);
            let bone = g.select(2, to) - g.select(2, from); // [B, T, 3]
            let rest = vec3_like(REST_DIRECTIONS[w[1]], g).expand_as(&bone);
            let global = qbetween(&rest, &bone);
            let loc = qmul(&qinv(&parent), &global);
            parent = qmul(&parent, &loc);
            local[w[1]] = Some(loc);
        }
    }
    let local: Vec<Tensor> = local
        .into_iter()
        .skip(1)
        .map(|q| q.expect("every joint is in a chain"))
        .collect();
    let m = quat_to_matrix(&Tensor::stack(&local, 2)); // [B, T, 21, 3, 3]
                                                       // First two columns: [m00 m10 m20 m01 m11 m21].
    let cols = Tensor::cat(&[m.select(-1, 0), m.select(-1, 1)], -1); // [B, T, 21, 6]
    cols.flatten(2, 3)
}

/// Joints `[..., T, 22, 3]` recovered from feature rows `[..., T, 263]` (raw, not normalised).
/// Differentiable; the yaw integrates to theta and q = (cos theta, 0, sin theta, 0) rotates by
/// 2 theta, so the body-to-world rotation of frame t is a yaw of -2 theta_t.
pub fn joints_from_features(features: &Tensor) -> Result<Tensor> {
    let size = features.size();
    let n = size.len();
    if n < 2 || size[n - 1] != FEATURE_DIM as i64 || size[n - 2] < 1 {
        return Err(Error::Shape {
            expected: "[..., T >= 1, 263] features".into(),
            got: size,
        });
    }
    check_finite(features, "features")?;
    let f = features.reshape([-1, size[n - 2], FEATURE_DIM as i64]);
    let mut out = size[..n - 1].to_vec();
    out.extend([NUM_JOINTS as i64, 3]);
    Ok(recover(&f).reshape(out))
}

/// `f [B, T, 263]` -> `[B, T, 22, 3]`.
fn recover(f: &Tensor) -> Tensor {
    let t = f.size()[1];
    // theta_0 = 0, theta_t = sum_{k<t} yaw velocity_k
    let yaw_vel = f.select(-1, 0); // [B, T]
    let theta = Tensor::cat(
        &[
            yaw_vel.narrow(1, 0, 1).zeros_like(),
            yaw_vel.narrow(1, 0, t - 1),
        ],
        1,
    )
    .cumsum(1, None);
    let to_world = &theta * -2.0; // [B, T]

    // Root: displacement of row t-1 rotated to world by frame t's rotation, summed; y from dim 3.
    let disp = Tensor::stack(
        &[
            f.select(-1, 1),
            f.select(-1, 1).zeros_like(),
            f.select(-1, 2),
        ],
        -1,
    ); // [B, T, 3]
    let disp = Tensor::cat(
        &[disp.narrow(1, 0, 1).zeros_like(), disp.narrow(1, 0, t - 1)],
        1,
    );
    let root_xz = rotate_y(&disp, &to_world).cumsum(1, None) * vec3_like([1.0, 0.0, 1.0], f); // [B, T, 3]
    let root_y = f.select(-1, 3).unsqueeze(-1) * vec3_like([0.0, 1.0, 0.0], f); // [B, T, 3]
    let root = &root_xz + root_y;

    // Joints 1..21: RIC rotated to world, plus the root's x and z.
    let ric = f.narrow(-1, 4, 63).unflatten(-1, [21, 3]); // [B, T, 21, 3]
    let joints = rotate_y(&ric, &to_world.unsqueeze(-1)) + root_xz.unsqueeze(2);
    Tensor::cat(&[root.unsqueeze(2), joints], 2)
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
