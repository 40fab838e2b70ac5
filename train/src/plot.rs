//! Loss curves as a PNG (plotters): one coloured line per series ("train", "val", ...), loss on a
//! log scale, since losses fall by orders of magnitude and the late, slow part is the interesting one.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::atomic::temp_path;
use crate::error::{Error, Result};

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

/// Line colours, in series order (then repeated): colour-blind-safe Okabe-Ito hues.
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

const SIZE: (u32, u32) = (900, 540);

/// `out/loss.png` from `out/train_log.jsonl`: the training `loss` and, where logged, the
/// `val_loss`, against the step (what every trainer draws after a checkpoint).
pub fn plot_log(out: &Path, title: &str) -> Result<()> {
    let records = crate::read_records(&out.join("train_log.jsonl"))?;
    let series = |key: &str| -> Vec<(u64, f64)> {
        records
            .iter()
            .filter_map(|r| Some((r["step"].as_u64()?, r.get(key)?.as_f64()?)))
            .collect()
    };
    let mut all = vec![("train", series("loss"))];
    let val = series("val_loss");
    if !val.is_empty() {
        all.push(("validation", val));
    }
    loss_curve_png(&all, title, &out.join("loss.png"))
}

/// Draws `series` (name, points `(step, loss)`) to `path` as a PNG, written to a temp file and
/// renamed. Points with a non-finite or non-positive loss (no place on a log axis) are skipped; an
/// input with no point left is an error.
pub fn loss_curve_png(series: &[(&str, Vec<(u64, f64)>)], title: &str, path: &Path) -> Result<()> {
    let kept: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, points)| {
            let finite = points
                .iter()
                .filter(|(_, loss)| loss.is_finite() && *loss > 0.0)
                .map(|&(step, loss)| (step as f64, loss))
                .collect();
            (*name, finite)
        })
        .collect();
    let all = || kept.iter().flat_map(|(_, p)| p.iter().copied());
    let Some((x0, x1, y0, y1)) = all().fold(None, |acc, (x, y)| {
        let (a, b, c, d) = acc.unwrap_or((x, x, y, y));
        Some((a.min(x), b.max(x), c.min(y), d.max(y)))
    }) else {
        return Err(Error::File {
            path: path.to_path_buf(),
            msg: format!(
                "nothing to plot: {} series without a finite positive loss",
                series.len()
            ),
        });
    };
    // One point still needs a non-empty range; the y margin is a factor, as the axis is a log one.
    let (x1, y0, y1) = (x1.max(x0 + 1.0), y0 / 1.2, y1 * 1.2);
    register_font();
    let tmp = temp_path(path).with_extension("tmp.png"); // the encoder picks the format by extension
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2e}"))
            .draw()?;
        for (k, (name, points)) in kept.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
        Ok(())
    };
    let result = draw()
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(msg) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::File {
            path: path.to_path_buf(),
            msg: format!("cannot write the plot: {msg}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_train_and_val_curves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let train: Vec<(u64, f64)> = (0..200).map(|s| (s, 2.0 / (1.0 + s as f64))).collect();
        let mut val: Vec<(u64, f64)> = (0..10).map(|k| (k * 20, 2.5 / (1.0 + k as f64))).collect();
        val.push((200, f64::NAN)); // skipped
        loss_curve_png(&[("train", train), ("val", val)], "loss", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), SIZE);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );

        // A single point still plots.
        loss_curve_png(&[("train", vec![(5, 1.0)])], "one", &path).unwrap();
    }

    #[test]
    fn refuses_nothing_to_plot_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let e = loss_curve_png(&[], "x", &path).unwrap_err().to_string();
        assert!(
            e.contains("loss.png") && e.contains("nothing to plot"),
            "{e}"
        );
        let e = loss_curve_png(&[("train", vec![(1, f64::INFINITY), (2, 0.0)])], "x", &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nothing to plot: 1 series"), "{e}");
        let e = loss_curve_png(
            &[("train", vec![(1, 1.0)])],
            "x",
            &dir.path().join("no/l.png"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no/l.png"), "{e}");
        assert!(!path.exists());
    }
}
