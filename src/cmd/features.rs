use std::path::Path;

use anyhow::Context;
use motion::npy::{read_tensor, write_tensor};

use crate::cli::FeaturesCommand;

pub fn run(cmd: FeaturesCommand) -> anyhow::Result<()> {
    match cmd {
        FeaturesCommand::ToJoints { features, out } => {
            let f = read_tensor(&features)?;
            // Accept one clip (T x 263) or a batch (N x T x 263); computed in float64.
            let joints =
                motion::joints_from_features(&f).with_context(|| features.display().to_string())?;
            write(&out, &joints, "joints")
        }
        FeaturesCommand::FromJoints { joints, out } => {
            let j = read_tensor(&joints)?;
            let feats =
                motion::features_from_joints(&j).with_context(|| joints.display().to_string())?;
            write(&out, &feats, "feature rows")
        }
    }
}

fn write(out: &Path, t: &tch::Tensor, what: &str) -> anyhow::Result<()> {
    write_tensor(out, t)?;
    eprintln!("wrote {what} {:?} to {}", t.size(), out.display());
    Ok(())
}
