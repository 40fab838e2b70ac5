//! 3x3 rotation matrices for the BVH and ASF/AMC formats (Euler angles in degrees, row-major).

pub type M3 = [[f64; 3]; 3];
pub type P3 = [f64; 3];

pub const IDENTITY: M3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

pub fn mul(a: &M3, b: &M3) -> M3 {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

pub fn apply(a: &M3, v: P3) -> P3 {
    std::array::from_fn(|i| (0..3).map(|k| a[i][k] * v[k]).sum())
}

pub fn transpose(a: &M3) -> M3 {
    std::array::from_fn(|i| std::array::from_fn(|j| a[j][i]))
}

/// Rotation by `deg` degrees about axis 0 (X), 1 (Y) or 2 (Z).
pub fn axis_rotation(axis: usize, deg: f64) -> M3 {
    let (s, c) = deg.to_radians().sin_cos();
    match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
        1 => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
        _ => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

/// R = Rz(z) Rx(x) Ry(y): BVH's `Zrotation Xrotation Yrotation` channels; returns (z, x, y) degrees.
pub fn to_euler_zxy(r: &M3) -> (f64, f64, f64) {
    let x = r[2][1].clamp(-1.0, 1.0).asin();
    let (z, y) = if x.cos().abs() > 1e-9 {
        ((-r[0][1]).atan2(r[1][1]), (-r[2][0]).atan2(r[2][2]))
    } else {
        // Gimbal lock: put everything in z.
        (r[1][0].atan2(r[0][0]), 0.0)
    };
    (z.to_degrees(), x.to_degrees(), y.to_degrees())
}

pub fn sub(a: P3, b: P3) -> P3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn add(a: P3, b: P3) -> P3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn norm(a: P3) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn cross(a: P3, b: P3) -> P3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn unit(a: P3) -> Option<P3> {
    let n = norm(a);
    (n > 1e-12).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

/// Orthonormal frame (columns) with the first axis along `a` and `b` in the first two axes' plane.
fn frame(a: P3, b: P3) -> Option<M3> {
    let e0 = unit(a)?;
    let e2 = unit(cross(e0, b))?;
    let e1 = cross(e2, e0);
    Some(transpose(&[e0, e1, e2]))
}

/// The rotation taking `rest_a` to `a` and the plane of (`rest_a`, `rest_b`) to that of (`a`, `b`).
pub fn align_two(rest_a: P3, rest_b: P3, a: P3, b: P3) -> M3 {
    match (frame(rest_a, rest_b), frame(a, b)) {
        (Some(f0), Some(f1)) => mul(&f1, &transpose(&f0)),
        _ => IDENTITY,
    }
}

/// The smallest rotation taking direction `u` to direction `v` (Rodrigues); antiparallel: pi about
/// an axis perpendicular to `u`.
pub fn between(u: P3, v: P3) -> M3 {
    let (Some(u), Some(v)) = (unit(u), unit(v)) else {
        return IDENTITY;
    };
    let c = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    let axis = cross(u, v);
    if c < -1.0 + 1e-12 {
        let helper = if u[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 0.0, 1.0]
        };
        let k = unit(cross(u, helper)).expect("perpendicular");
        // R = 2 k k^T - I
        return std::array::from_fn(|i| {
            std::array::from_fn(|j| 2.0 * k[i] * k[j] - if i == j { 1.0 } else { 0.0 })
        });
    }
    let k = 1.0 / (1.0 + c);
    let [x, y, z] = axis;
    [
        [c + x * x * k, x * y * k - z, x * z * k + y],
        [y * x * k + z, c + y * y * k, y * z * k - x],
        [z * x * k - y, z * y * k + x, c + z * z * k],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &M3, b: &M3) -> bool {
        (0..3).all(|i| (0..3).all(|j| (a[i][j] - b[i][j]).abs() < 1e-9))
    }

    #[test]
    fn euler_zxy_round_trips() {
        for (z, x, y) in [(10.0, 20.0, 30.0), (-170.0, 80.0, 5.0), (0.0, -45.0, 179.0)] {
            let r = mul(
                &mul(&axis_rotation(2, z), &axis_rotation(0, x)),
                &axis_rotation(1, y),
            );
            let (z2, x2, y2) = to_euler_zxy(&r);
            let back = mul(
                &mul(&axis_rotation(2, z2), &axis_rotation(0, x2)),
                &axis_rotation(1, y2),
            );
            assert!(close(&r, &back), "{z} {x} {y}");
        }
    }

    #[test]
    fn between_and_align_two_map_their_vectors() {
        for (u, v) in [
            ([0.0, -1.0, 0.0], [0.3, 0.2, 0.9]),
            ([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]),
        ] {
            let r = between(u, v);
            let got = apply(&r, u);
            let n = norm(v);
            assert!((0..3).all(|i| (got[i] - v[i] / n).abs() < 1e-9), "{got:?}");
        }
        let r = align_two(
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0],
        );
        assert!(close(&mul(&r, &transpose(&r)), &IDENTITY));
        let a = apply(&r, [0.0, 1.0, 0.0]);
        assert!((a[2] - 1.0).abs() < 1e-9);
    }
}
