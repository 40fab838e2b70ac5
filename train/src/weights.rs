//! Strict loading of safetensors into a `VarStore`. tch's `VarStore::load` ignores extra keys and
//! takes the file's dtype; here every missing key, unexpected key and shape mismatch is an error
//! naming the key, and values are converted to the variable's own dtype and device.

use std::collections::HashSet;
use std::path::Path;

use tch::nn::VarStore;
use tch::Tensor;

use crate::error::{Error, Result};

/// Loads `path` into `vs`. Keys in the file that start with one of `ignore` (e.g. a checkpoint's
/// unused pooler) are skipped; any other difference between file and model is an error.
pub fn load_strict(vs: &mut VarStore, path: &Path, ignore: &[&str]) -> Result<()> {
    let bad = |msg: String| Error::File {
        path: path.to_path_buf(),
        msg,
    };
    let mut file =
        Tensor::read_safetensors(path).map_err(|e| bad(format!("cannot read safetensors: {e}")))?;
    file.sort_by(|a, b| a.0.cmp(&b.0)); // report problems in a stable order
    let mut vars = vs.variables();
    let mut seen = HashSet::new();
    let (mut unexpected, mut mismatched): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (name, value) in file {
        if ignore.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        let Some(var) = vars.get_mut(&name) else {
            unexpected.push(name);
            continue;
        };
        if var.size() != value.size() {
            mismatched.push(format!(
                "{name}: the file holds shape {:?}, the model needs {:?}",
                value.size(),
                var.size()
            ));
            continue;
        }
        tch::no_grad(|| var.copy_(&value.to_kind(var.kind()).to_device(var.device())));
        seen.insert(name);
    }
    if !mismatched.is_empty() {
        return Err(bad(listed(&mismatched, "; ")));
    }
    if !unexpected.is_empty() {
        unexpected.sort();
        return Err(bad(format!(
            "unexpected key(s) {}",
            listed(&unexpected, ", ")
        )));
    }
    let mut missing: Vec<&String> = vars.keys().filter(|k| !seen.contains(*k)).collect();
    if !missing.is_empty() {
        missing.sort();
        let list: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
        return Err(bad(format!("missing key(s) {}", listed(&list, ", "))));
    }
    Ok(())
}

/// The first few items joined, then how many more: a model with a wrong size has a problem with
/// every key, and one line should still read as one line.
fn listed(items: &[String], sep: &str) -> String {
    const SHOWN: usize = 4;
    let head = items[..items.len().min(SHOWN)].join(sep);
    if items.len() > SHOWN {
        format!("{head}{sep}and {} more", items.len() - SHOWN)
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    fn model(vs: &nn::VarStore, out: i64) {
        let root = vs.root();
        let _ = nn::linear(&root / "layer", 3, out, Default::default());
    }

    #[test]
    fn loads_exact_files_and_names_every_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let saved = nn::VarStore::new(Device::Cpu);
        model(&saved, 2);
        saved.save(&path).unwrap();

        let mut same = nn::VarStore::new(Device::Cpu);
        model(&same, 2);
        load_strict(&mut same, &path, &[]).unwrap();
        let w = |vs: &nn::VarStore| vs.variables()["layer.weight"].copy();
        assert!(w(&same).equal(&w(&saved)));

        let mut wider = nn::VarStore::new(Device::Cpu);
        model(&wider, 4);
        let e = load_strict(&mut wider, &path, &[]).unwrap_err().to_string();
        assert!(
            e.contains("layer.weight") && e.contains("[2, 3]") && e.contains("[4, 3]"),
            "{e}"
        );

        let mut more = nn::VarStore::new(Device::Cpu);
        model(&more, 2);
        let _ = nn::linear(more.root() / "head", 2, 1, Default::default());
        let e = load_strict(&mut more, &path, &[]).unwrap_err().to_string();
        assert!(e.contains("missing key(s) head.bias, head.weight"), "{e}");

        let mut fewer = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(
            fewer.root() / "layer",
            3,
            2,
            nn::LinearConfig {
                bias: false,
                ..Default::default()
            },
        );
        let e = load_strict(&mut fewer, &path, &[]).unwrap_err().to_string();
        assert!(e.contains("unexpected key(s) layer.bias"), "{e}");
        load_strict(&mut fewer, &path, &["layer.bias"]).unwrap();

        let mut half = nn::VarStore::new(Device::Cpu);
        model(&half, 2);
        half.half();
        load_strict(&mut half, &path, &[]).unwrap();
        assert_eq!(
            half.variables()["layer.weight"].kind(),
            Kind::Half,
            "keeps the model's dtype"
        );
    }
}
