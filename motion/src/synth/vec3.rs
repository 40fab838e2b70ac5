//! A small 3-vector for the animator (f64, metres; Y up, a body at heading 0 faces +Z, left at +X).

use std::ops::{Add, Mul, Neg, Sub};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct V3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Unit vector; `fallback` for a (near) zero vector.
    pub fn unit_or(self, fallback: V3) -> V3 {
        let n = self.norm();
        if n < 1e-9 {
            fallback
        } else {
            self * (1.0 / n)
        }
    }
    /// Rotation about +Y by `a` (+Z turns towards +X).
    pub fn yaw(self, a: f64) -> V3 {
        let (s, c) = a.sin_cos();
        v3(self.x * c + self.z * s, self.y, -self.x * s + self.z * c)
    }
    /// Rotation about +X by `a` (+Y turns towards +Z: a positive pitch leans forward).
    pub fn pitch(self, a: f64) -> V3 {
        let (s, c) = a.sin_cos();
        v3(self.x, self.y * c - self.z * s, self.y * s + self.z * c)
    }
    /// Rotation about +Z by `a` (+Y turns towards -X: a positive roll leans to the body's right).
    pub fn roll(self, a: f64) -> V3 {
        let (s, c) = a.sin_cos();
        v3(self.x * c - self.y * s, self.x * s + self.y * c, self.z)
    }
    pub fn lerp(self, o: V3, t: f64) -> V3 {
        self + (o - self) * t
    }
    pub fn to_array(self) -> [f64; 3] {
        [self.x, self.y, self.z]
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// Smooth 0 -> 1 ramp (zero slope at both ends).
pub fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_follow_the_body_conventions() {
        let close = |a: V3, b: V3| (a - b).norm() < 1e-12;
        assert!(close(
            v3(0., 0., 1.).yaw(std::f64::consts::FRAC_PI_2),
            v3(1., 0., 0.)
        ));
        assert!(
            close(
                v3(0., 1., 0.).pitch(std::f64::consts::FRAC_PI_2),
                v3(0., 0., 1.)
            ),
            "lean forward"
        );
        assert!(
            close(
                v3(0., 1., 0.).roll(std::f64::consts::FRAC_PI_2),
                v3(-1., 0., 0.)
            ),
            "lean right"
        );
        assert_eq!(smoothstep(-1.0), 0.0);
        assert_eq!(smoothstep(0.5), 0.5);
    }
}
