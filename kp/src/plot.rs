//! Heat map of sign KP (phrases x time, grouped by type) as a PNG, drawn with plotters.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::phrases::{PhraseType, NUM_PHRASES};

/// DejaVu Sans (free licence, assets/fonts/DejaVuSans.LICENSE): plotters' ab_glyph backend needs the
/// bytes of a font, and bundling one keeps plots independent of the machine's font set-up.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font parses"));
    });
}

const ROW_PX: u32 = 2;
const LEFT: u32 = 90;
const TOP: u32 = 30;
const BOTTOM: u32 = 40;

/// Draws `sign [T, 392]` (-1 blue, +1 red, 0 white) to `path` (PNG), written via a temp file and
/// renamed, so a failed plot never leaves a partial file.
pub fn heatmap_png(sign: &Tensor, fps: f64, title: &str, path: &Path) -> Result<()> {
    let size = sign.size();
    if size.len() != 2 || size[1] != NUM_PHRASES as i64 || size[0] < 1 {
        return Err(Error::Shape {
            expected: "sign KP [T, 392]".into(),
            got: size,
        });
    }
    register_font();
    let t = size[0] as usize;
    let values: Vec<f64> = Vec::try_from(sign.to_kind(Kind::Double).contiguous().flatten(0, -1))
        .expect("double tensor");
    let col_px = (900 / t as u32).clamp(1, 8);
    let (w, h) = (
        LEFT + col_px * t as u32 + 20,
        TOP + ROW_PX * NUM_PHRASES as u32 + BOTTOM,
    );
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp.png", std::process::id()));
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw_text(
            title,
            &("sans-serif", 16).into_font().color(&BLACK),
            (LEFT as i32, 8),
        )?;
        let area = root.margin(TOP, BOTTOM, LEFT, 20);
        let (red, blue) = (RGBColor(200, 40, 40), RGBColor(40, 80, 200));
        for (k, v) in values.iter().enumerate() {
            if *v == 0.0 {
                continue;
            }
            let (frame, phrase) = ((k / NUM_PHRASES) as i32, (k % NUM_PHRASES) as i32);
            let (x, y) = (frame * col_px as i32, phrase * ROW_PX as i32);
            let color = if *v > 0.0 { red } else { blue };
            area.draw(&Rectangle::new(
                [(x, y), (x + col_px as i32, y + ROW_PX as i32)],
                color.filled(),
            ))?;
        }
        // Group separators and names on the left.
        let label = ("sans-serif", 12).into_font().color(&BLACK);
        let right = (col_px * t as u32) as i32;
        for ty in PhraseType::ALL {
            let r = ty.range();
            let y = (r.start as u32 * ROW_PX) as i32;
            area.draw(&PathElement::new(vec![(0, y), (right, y)], BLACK.mix(0.5)))?;
            let mid = TOP as i32 + ((r.start + r.end) as u32 * ROW_PX / 2) as i32 - 6;
            root.draw_text(&format!("{} ({})", ty.name(), r.len()), &label, (4, mid))?;
        }
        // Time axis: a tick a second.
        let base = (TOP + ROW_PX * NUM_PHRASES as u32) as i32 + 4;
        let seconds = (t as f64 / fps).floor() as usize;
        let step = seconds.div_ceil(12).max(1);
        for s in (0..=seconds).step_by(step) {
            let x = LEFT as i32 + (s as f64 * fps) as i32 * col_px as i32;
            root.draw(&PathElement::new(vec![(x, base - 4), (x, base + 2)], BLACK))?;
            root.draw_text(&format!("{s} s"), &label, (x - 6, base + 6))?;
        }
        root.present()?;
        Ok(())
    };
    let result = draw()
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(msg) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::File {
            path: path.display().to_string(),
            msg: format!("cannot write the plot: {msg}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kp.png");
        let sign = Tensor::zeros([60, 392], (Kind::Float, tch::Device::Cpu));
        let _ = sign.narrow(0, 10, 20).narrow(1, 2, 1).fill_(1.0);
        heatmap_png(&sign, 20.0, "test", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR width and height (big-endian at offsets 16 and 20).
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!(
            (w, h),
            (LEFT + 8 * 60 + 20, TOP + 2 * 392 + BOTTOM),
            "8 px a frame at most"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        let e = heatmap_png(&sign, 20.0, "x", &dir.path().join("missing/kp.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing/kp.png"), "{e}");
    }
}
