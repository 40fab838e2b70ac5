//! Per-frame axes: u (up) = +Y exactly; r (right) = ground-projected R_hip - L_hip, normalised;
//! f (forward) = normalise(u x r). normalise(v) = v / (|v| + 1e-5), as the spec says.

use tch::Tensor;

const L_HIP: i64 = 1;
const R_HIP: i64 = 2;

/// Unit axes `[..., T, 3]` each.
#[derive(Debug)]
pub struct BodyAxes {
    pub up: Tensor,
    pub right: Tensor,
    pub forward: Tensor,
}

fn normalise(v: &Tensor) -> Tensor {
    v / (v.norm_scalaropt_dim(2, [-1], true) + 1e-5)
}

/// Axes of joints `[..., T, 22, 3]` (HumanML3D order, Y up).
pub fn body_axes(joints: &Tensor) -> BodyAxes {
    let across = joints.select(-2, R_HIP) - joints.select(-2, L_HIP); // [..., T, 3]
    let keep_xz = Tensor::from_slice(&[1.0f64, 0.0, 1.0])
        .to_kind(joints.kind())
        .to_device(joints.device());
    let right = normalise(&(across * keep_xz));
    let up = Tensor::from_slice(&[0.0f64, 1.0, 0.0])
        .to_kind(joints.kind())
        .to_device(joints.device())
        .expand_as(&right);
    let forward = normalise(&up.cross(&right, -1));
    BodyAxes { up, right, forward }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn hips(l: [f64; 3], r: [f64; 3]) -> Tensor {
        let j = Tensor::zeros([1, 22, 3], (Kind::Double, Device::Cpu));
        j.get(0).get(L_HIP).copy_(&Tensor::from_slice(&l));
        j.get(0).get(R_HIP).copy_(&Tensor::from_slice(&r));
        j
    }

    fn close(t: &Tensor, want: [f64; 3]) -> bool {
        (t.view([-1]) - Tensor::from_slice(&want))
            .abs()
            .max()
            .double_value(&[])
            < 1e-4
    }

    #[test]
    fn facing_z_gives_right_minus_x_and_forward_plus_z() {
        // Left hip at +X (HumanML3D frame 0); hips slightly tilted, which the projection removes.
        let a = body_axes(&hips([0.1, 0.9, 0.0], [-0.1, 0.95, 0.0]));
        assert!(close(&a.right, [-1.0, 0.0, 0.0]), "{}", a.right);
        assert!(close(&a.forward, [0.0, 0.0, 1.0]), "{}", a.forward);
        assert!(close(&a.up, [0.0, 1.0, 0.0]));
    }

    #[test]
    fn axes_turn_with_the_body() {
        // Turned 90 degrees towards +X: left hip now at -Z, facing +X.
        let a = body_axes(&hips([0.0, 0.9, -0.1], [0.0, 0.9, 0.1]));
        assert!(close(&a.right, [0.0, 0.0, 1.0]), "{}", a.right);
        assert!(close(&a.forward, [1.0, 0.0, 0.0]), "{}", a.forward);
    }

    #[test]
    fn coincident_hips_give_zero_axes_not_nan() {
        let a = body_axes(&hips([0.0, 0.9, 0.0], [0.0, 0.9, 0.0]));
        assert!(
            bool::try_from(a.right.isfinite().all()).unwrap()
                && bool::try_from(a.forward.isfinite().all()).unwrap()
        );
    }
}
