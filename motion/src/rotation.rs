//! Rotations on tch tensors: yaw (rotation about +Y) by angle, and the few quaternion operations the
//! inverse kinematics needs. Quaternions are `[..., 4]` as (w, x, y, z), like HumanML3D's.

use tch::Tensor;

/// Rotates `v [..., 3]` by `angle [...]` radians about +Y (right-handed: +Z turns towards +X).
pub fn rotate_y(v: &Tensor, angle: &Tensor) -> Tensor {
    let (c, s) = (angle.cos(), angle.sin());
    let x = v.select(-1, 0);
    let y = v.select(-1, 1);
    let z = v.select(-1, 2);
    Tensor::stack(&[&x * &c + &z * &s, y, -(&x * &s) + &z * &c], -1)
}

/// Hamilton product `a * b`, both `[..., 4]`.
pub fn qmul(a: &Tensor, b: &Tensor) -> Tensor {
    let c = |q: &Tensor, i| q.select(-1, i);
    let (aw, ax, ay, az) = (c(a, 0), c(a, 1), c(a, 2), c(a, 3));
    let (bw, bx, by, bz) = (c(b, 0), c(b, 1), c(b, 2), c(b, 3));
    Tensor::stack(
        &[
            &aw * &bw - &ax * &bx - &ay * &by - &az * &bz,
            &aw * &bx + &ax * &bw + &ay * &bz - &az * &by,
            &aw * &by - &ax * &bz + &ay * &bw + &az * &bx,
            &aw * &bz + &ax * &by - &ay * &bx + &az * &bw,
        ],
        -1,
    )
}

/// Inverse of a unit quaternion `[..., 4]` (its conjugate).
pub fn qinv(q: &Tensor) -> Tensor {
    let sign = Tensor::from_slice(&[1.0f64, -1.0, -1.0, -1.0])
        .to_kind(q.kind())
        .to_device(q.device());
    q * sign
}

/// Yaw quaternion `[..., 4]` for a rotation by `angle [...]` about +Y.
pub fn quat_from_yaw(angle: &Tensor) -> Tensor {
    let half = angle * 0.5;
    let zero = half.zeros_like();
    Tensor::stack(&[half.cos(), zero.shallow_clone(), half.sin(), zero], -1)
}

/// The shortest rotation taking direction `u [..., 3]` to direction `v [..., 3]` (neither needs unit
/// length), as HumanML3D's `qbetween`. For antiparallel vectors (and a zero-length `v`), where that
/// formula gives the zero quaternion, it returns the rotation by pi about an axis perpendicular to `u`,
/// so the result is never NaN.
pub fn qbetween(u: &Tensor, v: &Tensor) -> Tensor {
    let norm = |t: &Tensor| t.norm_scalaropt_dim(2, [-1], true);
    let xyz = u.cross(v, -1);
    let w = norm(u) * norm(v) + (u * v).sum_dim_intlist(-1, true, u.kind());
    let q = Tensor::cat(&[w, xyz], -1);
    let len = norm(&q);
    let scale = norm(u) * norm(v);
    // Perpendicular axis for the degenerate case: u x X, or u x Z when u is (nearly) along X.
    let unit_x = Tensor::from_slice(&[1.0f64, 0.0, 0.0])
        .to_kind(u.kind())
        .to_device(u.device());
    let unit_z = Tensor::from_slice(&[0.0f64, 0.0, 1.0])
        .to_kind(u.kind())
        .to_device(u.device());
    let ux = u.cross(&unit_x.expand_as(u), -1);
    let uz = u.cross(&unit_z.expand_as(u), -1);
    let axis = ux.where_self(&norm(&ux).gt_tensor(&norm(&uz)), &uz);
    let axis = &axis / norm(&axis).clamp_min(1e-12);
    let flipped = Tensor::cat(&[axis.select(-1, 0).zeros_like().unsqueeze(-1), axis], -1);
    let degenerate = len.le_tensor(&(scale * 1e-7 + 1e-12));
    (&q / len.clamp_min(1e-12)).where_self(&degenerate.logical_not(), &flipped)
}

/// Rotation matrices `[..., 3, 3]` of unit quaternions `[..., 4]`.
pub fn quat_to_matrix(q: &Tensor) -> Tensor {
    let c = |i| q.select(-1, i);
    let (w, x, y, z) = (c(0), c(1), c(2), c(3));
    let two = |a: &Tensor, b: &Tensor| a * b * 2.0;
    let rows = [
        [
            1.0 - two(&y, &y) - two(&z, &z),
            two(&x, &y) - two(&z, &w),
            two(&x, &z) + two(&y, &w),
        ],
        [
            two(&x, &y) + two(&z, &w),
            1.0 - two(&x, &x) - two(&z, &z),
            two(&y, &z) - two(&x, &w),
        ],
        [
            two(&x, &z) - two(&y, &w),
            two(&y, &z) + two(&x, &w),
            1.0 - two(&x, &x) - two(&y, &y),
        ],
    ];
    let rows: Vec<Tensor> = rows.iter().map(|r| Tensor::stack(r, -1)).collect();
    Tensor::stack(&rows, -2)
}

/// Wraps angles to (-pi, pi].
pub fn wrap_angle(a: &Tensor) -> Tensor {
    let wrapped = a.sin().atan2(&a.cos());
    // atan2 gives [-pi, pi]; move -pi to pi so the interval is half-open as the contract says.
    let pi = std::f64::consts::PI;
    wrapped
        .where_scalarother(&wrapped.gt(-pi + 1e-12), pi)
        .to_kind(a.kind())
}

/// Vector `[3]` in `like`'s dtype and device.
pub(crate) fn vec3_like(v: [f64; 3], like: &Tensor) -> Tensor {
    Tensor::from_slice(&v)
        .to_kind(like.kind())
        .to_device(like.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_slice(v).to_kind(Kind::Double)
    }

    fn close(a: &Tensor, b: &Tensor, tol: f64) -> bool {
        (a - b).abs().max().double_value(&[]) < tol
    }

    #[test]
    fn yaw_turns_z_towards_x() {
        let v = t(&[0.0, 0.5, 1.0]);
        let r = rotate_y(&v, &t(&[std::f64::consts::FRAC_PI_2]).squeeze());
        assert!(close(&r, &t(&[1.0, 0.5, 0.0]), 1e-12), "{r}");
    }

    #[test]
    fn yaw_quaternion_matrix_matches_rotate_y() {
        let a = t(&[0.3, -2.0, 3.1]);
        let v = t(&[0.2, -0.4, 0.9, 1.0, 2.0, 3.0, -1.0, 0.0, 0.5]).reshape([3, 3]);
        let m = quat_to_matrix(&quat_from_yaw(&a));
        let via_matrix = m.matmul(&v.unsqueeze(-1)).squeeze_dim(-1);
        assert!(close(&via_matrix, &rotate_y(&v, &a), 1e-12));
    }

    #[test]
    fn qbetween_maps_u_to_v_and_never_nans() {
        let u = t(&[0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]).reshape([4, 3]);
        // Generic, exactly antiparallel, zero-length target, nearly antiparallel.
        let v = t(&[
            0.3, 0.2, 0.9, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-9, -1.0, 0.0,
        ])
        .reshape([4, 3]);
        let q = qbetween(&u, &v);
        assert!(bool::try_from(q.isfinite().all()).unwrap(), "{q}");
        let norms = q.norm_scalaropt_dim(2, [-1], false);
        assert!(close(
            &norms,
            &Tensor::ones([4], (Kind::Double, tch::Device::Cpu)),
            1e-9
        ));
        let moved = quat_to_matrix(&q).matmul(&u.unsqueeze(-1)).squeeze_dim(-1);
        for i in [0usize, 1, 3] {
            let vi = v.get(i as i64);
            let unit = &vi / vi.norm();
            assert!(close(&moved.get(i as i64), &unit, 1e-6), "row {i}: {moved}");
        }
    }

    #[test]
    fn wrap_is_half_open() {
        let pi = std::f64::consts::PI;
        let w = wrap_angle(&t(&[-pi, pi, 3.0 * pi / 2.0, 0.1]));
        assert!(close(&w, &t(&[pi, pi, -pi / 2.0, 0.1]), 1e-9), "{w}");
    }
}
