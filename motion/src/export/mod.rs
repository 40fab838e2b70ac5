//! Exporters of joint motion: stick-figure pictures (PNG strip, animated GIF).

mod render;

pub use render::{render_gif, render_strip_png};
