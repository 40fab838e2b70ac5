use std::path::Path;

use anyhow::{bail, Context};
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
    let frames =
        motion::export::frames_from_tensor(&t).with_context(|| joints.display().to_string())?;
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
