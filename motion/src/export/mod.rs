//! Exporters of joint motion: BVH, and stick-figure pictures (PNG strip, animated GIF).

mod bvh;
mod render;

pub use bvh::{bvh_string, write_bvh};
pub use render::{render_gif, render_strip_png};
