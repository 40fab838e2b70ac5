//! Exporters of joint motion: BVH, and stick-figure pictures (PNG strip, animated GIF).

mod bvh;
mod render;

pub use bvh::{bvh_string, write_bvh};
pub use render::{render_gif, render_strip_png};

/// `joints [T, 22, 3]` (any float dtype, any device) -> frames for the exporters.
pub fn frames_from_tensor(joints: &tch::Tensor) -> crate::Result<Vec<[[f64; 3]; 22]>> {
    let size = joints.size();
    if size.len() != 3 || size[1] != 22 || size[2] != 3 || size[0] < 1 {
        return Err(crate::Error::Shape {
            expected: "joints [T, 22, 3]".into(),
            got: size,
        });
    }
    let flat = Vec::<f64>::try_from(
        joints
            .to_device(tch::Device::Cpu)
            .to_kind(tch::Kind::Double)
            .flatten(0, -1),
    )?;
    Ok(flat
        .chunks_exact(66)
        .map(|c| std::array::from_fn(|j| [c[3 * j], c[3 * j + 1], c[3 * j + 2]]))
        .collect())
}
