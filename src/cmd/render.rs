use std::path::Path;

use anyhow::bail;
use motion::npy::read_tensor;

pub fn run(joints: &Path, out: &Path, panels: usize) -> anyhow::Result<()> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !matches!(ext.as_str(), "png" | "gif" | "bvh") {
        bail!("{}: unknown output format {ext:?}; use .png (a strip of frames), .gif (an animation) or .bvh", out.display());
    }
    let t = read_tensor(joints)?;
    let size = t.size();
    if size.len() != 3 || size[1] != 22 || size[2] != 3 || size[0] < 1 {
        bail!(
            "{}: expected joints of shape [T, 22, 3], got {size:?}",
            joints.display()
        );
    }
    let flat = Vec::<f64>::try_from(t.flatten(0, -1))?;
    let frames: Vec<[[f64; 3]; 22]> = flat
        .chunks_exact(66)
        .map(|c| std::array::from_fn(|j| [c[3 * j], c[3 * j + 1], c[3 * j + 2]]))
        .collect();
    match ext.as_str() {
        "png" => motion::export::render_strip_png(&frames, panels, out)?,
        "gif" => motion::export::render_gif(&frames, motion::synth::FPS, out)?,
        _ => motion::export::write_bvh(&frames, motion::synth::FPS, out)?,
    }
    eprintln!(
        "drew {} frames of {} to {}",
        frames.len(),
        joints.display(),
        out.display()
    );
    Ok(())
}
