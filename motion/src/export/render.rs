//! Stick figures drawn with plotters: a PNG strip of evenly spaced frames, or an animated GIF. Each
//! frame has two views, front (x-y) and side (z-y), over a floor line with the pelvis trail, so depth
//! reads. Left limbs blue, right limbs red, spine black. No text, so no font is needed.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::skeleton::KINEMATIC_CHAINS;

const PANEL: u32 = 160;

fn chain_color(chain: usize) -> RGBColor {
    match chain {
        0 | 3 => RGBColor(200, 50, 50), // right leg, right arm
        1 | 4 => RGBColor(40, 90, 200), // left leg, left arm
        _ => RGBColor(30, 30, 30),
    }
}

/// Square view of `top` metres; the camera follows the pelvis horizontally, so a figure that
/// travels far stays large (the pelvis trail on the floor shows the travel).
struct Bounds {
    top: f64,
}

fn bounds(joints: &[[[f64; 3]; 22]]) -> Bounds {
    let height = joints.iter().flatten().map(|p| p[1]).fold(0.0, f64::max);
    Bounds {
        top: height.max(1.0) + 0.4,
    }
}

/// Draws frame `f` (front view at x offset `ox`, side view at `ox + PANEL`).
fn draw_frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    joints: &[[[f64; 3]; 22]],
    f: usize,
    b: &Bounds,
    ox: i32,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let scale = PANEL as f64 / b.top;
    let y_px = |y: f64| (PANEL as f64 - 12.0 - y * scale * 0.92) as i32;
    for (view, hor) in [(0, 0usize), (1, 2usize)] {
        let left = ox + view * PANEL as i32;
        let centre = joints[f][0][hor];
        let range = (centre - b.top / 2.0, centre + b.top / 2.0);
        let sign = if hor == 0 { -1.0 } else { 1.0 }; // front view: the body's left (+X) on the right
        let h_px = |v: f64| {
            let u = (v - range.0) / (range.1 - range.0);
            left + (if sign < 0.0 { 1.0 - u } else { u } * PANEL as f64) as i32
        };
        let floor = y_px(0.0);
        area.draw(&PathElement::new(
            vec![(left + 4, floor), (left + PANEL as i32 - 4, floor)],
            RGBColor(150, 150, 150),
        ))?;
        let inside = |x: i32| x.clamp(left + 4, left + PANEL as i32 - 4);
        let trail: Vec<(i32, i32)> = joints[..=f]
            .iter()
            .map(|p| (inside(h_px(p[0][hor])), floor))
            .collect();
        area.draw(&PathElement::new(
            trail,
            RGBColor(230, 170, 60).stroke_width(2),
        ))?;
        let j = &joints[f];
        // One segment per bone: plotters joins thick polylines with mitres, which spike at the sharp
        // angle of a folded knee or elbow.
        for (c, chain) in KINEMATIC_CHAINS.iter().enumerate() {
            for bone in chain.windows(2) {
                let pts: Vec<(i32, i32)> = bone
                    .iter()
                    .map(|&k| (h_px(j[k][hor]), y_px(j[k][1])))
                    .collect();
                area.draw(&PathElement::new(pts, chain_color(c).stroke_width(3)))?;
            }
        }
        area.draw(&Circle::new(
            (h_px(j[15][hor]), y_px(j[15][1])),
            5,
            RGBColor(30, 30, 30).filled(),
        ))?;
    }
    Ok(())
}

fn check(joints: &[[[f64; 3]; 22]]) -> Result<()> {
    if joints.is_empty() {
        return Err(Error::Invalid("no frames to draw".into()));
    }
    if joints.iter().flatten().flatten().any(|v| !v.is_finite()) {
        return Err(Error::Invalid(
            "joints hold NaN or Inf; nothing drawn".into(),
        ));
    }
    Ok(())
}

fn finish(tmp: &Path, path: &Path, drawn: std::result::Result<(), String>) -> Result<()> {
    let done = drawn.and_then(|()| std::fs::rename(tmp, path).map_err(|e| e.to_string()));
    if let Err(msg) = done {
        let _ = std::fs::remove_file(tmp);
        return Err(Error::file(path, format!("cannot draw: {msg}")));
    }
    Ok(())
}

fn temp_beside(path: &Path, ext: &str) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp.{ext}", std::process::id()))
}

/// A PNG strip of `panels` evenly spaced frames (two views each), written atomically.
pub fn render_strip_png(joints: &[[[f64; 3]; 22]], panels: usize, path: &Path) -> Result<()> {
    check(joints)?;
    let panels = panels.clamp(1, joints.len());
    let b = bounds(joints);
    let tmp = temp_beside(path, "png");
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, (2 * PANEL * panels as u32, PANEL)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        for k in 0..panels {
            let f = if panels == 1 {
                0
            } else {
                k * (joints.len() - 1) / (panels - 1)
            };
            draw_frame(&root, joints, f, &b, (2 * PANEL * k as u32) as i32)
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })();
    finish(&tmp, path, drawn)
}

/// An animated GIF at `fps` (two views a frame), written atomically.
pub fn render_gif(joints: &[[[f64; 3]; 22]], fps: f64, path: &Path) -> Result<()> {
    check(joints)?;
    let b = bounds(joints);
    let tmp = temp_beside(path, "gif");
    let delay = (1000.0 / fps).round() as u32;
    let drawn = (|| {
        let root = BitMapBackend::gif(&tmp, (2 * PANEL, PANEL), delay)
            .map_err(|e| e.to_string())?
            .into_drawing_area();
        for f in 0..joints.len() {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            draw_frame(&root, joints, f, &b, 0).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    finish(&tmp, path, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_strips_and_gifs_and_refuses_nan() {
        let dir = tempfile::tempdir().unwrap();
        let clip = crate::synth::clip(0, 3).joints;
        let png = dir.path().join("s.png");
        render_strip_png(&clip, 6, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG");
        assert_eq!(
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            2 * PANEL * 6
        );
        let gif = dir.path().join("s.gif");
        render_gif(&clip[..10], 20.0, &gif).unwrap();
        assert_eq!(&std::fs::read(&gif).unwrap()[..6], b"GIF89a");
        let mut bad = clip.clone();
        bad[2][5][1] = f64::NAN;
        assert!(render_strip_png(&bad, 3, &dir.path().join("bad.png")).is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "nothing partial left"
        );
    }
}
