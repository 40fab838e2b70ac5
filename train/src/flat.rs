//! Flat parameters: every trainable variable of a `VarStore` becomes a view of one contiguous
//! buffer, so that the optimizer, the EMA and gradient clipping run a handful of kernels over one
//! tensor instead of a handful per variable (the "flat param" trick of PyTorch's FSDP and apex's
//! fused optimizers). tch's optimizers hide their state, so keta's AdamW (adamw.rs) works on these
//! buffers, and `views` gives them back the model's keys for saving.
//!
//! Layout: variables sorted by name, each at the running offset, row-major. Two stores with the same
//! names and shapes have the same layout whatever their dtype, which is how a bf16 working copy
//! ([`FlatParams::mirror`]) takes its values from the fp32 master weights in one `copy_`.
//!
//! Build `FlatParams` after any `VarStore::set_device`, `half`, `bfloat16` or `set_kind`: those
//! replace each variable's data and would cut it loose from the buffer. Loading values with
//! `copy_` (`load_strict`, `VarStore::load`) keeps the views.

use std::collections::{HashMap, HashSet};

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// One variable's place in the flat buffer.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    name: String,
    shape: Vec<i64>,
    offset: i64,
    numel: i64,
}

/// The trainable variables of one `VarStore`, made views of one flat buffer.
#[derive(Debug)]
pub struct FlatParams {
    /// `[numel]`, the variables' kind, on the store's device; does not require grad.
    flat: Tensor,
    /// The variables themselves (shallow clones: the store's own tensors), in slot order, for
    /// `run_backward`.
    vars: Vec<Tensor>,
    slots: Vec<Slot>,
}

impl FlatParams {
    /// Copies the trainable variables of `vs` (sorted by name) into one new buffer and makes each
    /// variable a view of it. The variables stay the same leaf tensors with `requires_grad`, so the
    /// model built on `vs` is unchanged. Refuses a store with no trainable variable, or whose
    /// trainable variables differ in kind or device.
    pub fn new(vs: &VarStore) -> Result<Self> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, v)| v.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let Some((first_name, first)) = vars.first() else {
            return Err(Error::Invalid(
                "the var store has no trainable variable to flatten".into(),
            ));
        };
        let (kind, device) = (first.kind(), vs.device());
        let mut slots = Vec::with_capacity(vars.len());
        let mut offset = 0;
        for (name, var) in &vars {
            if var.kind() != kind {
                return Err(Error::Invalid(format!(
                    "trainable variables mix kinds: {first_name} is {kind:?}, {name} is {:?}; \
                     cast the whole var store first",
                    var.kind()
                )));
            }
            if var.device() != device {
                return Err(Error::Invalid(format!(
                    "{name} lives on {:?}, its var store on {device:?}",
                    var.device()
                )));
            }
            let numel = var.numel() as i64;
            slots.push(Slot {
                name: name.clone(),
                shape: var.size(),
                offset,
                numel,
            });
            offset += numel;
        }
        let flat = Tensor::empty([offset], (kind, device));
        let mut tensors = Vec::with_capacity(vars.len());
        for ((_, mut var), slot) in vars.into_iter().zip(&slots) {
            let view = slot_view(&flat, slot);
            // Under no_grad, or the copy would record a graph from the variable into the buffer.
            tch::no_grad(|| view.shallow_clone().copy_(&var));
            // set_data swaps the storage under the same TensorImpl: the store, the model and this
            // clone all see the view, and autograd still sees the same leaf.
            var.set_data(&view);
            tensors.push(var);
        }
        Ok(FlatParams {
            flat,
            vars: tensors,
            slots,
        })
    }

    /// The buffer `[numel]` that the variables view. In-place writes under `no_grad` change the model.
    pub fn flat(&self) -> &Tensor {
        &self.flat
    }

    /// Number of scalars over all trainable variables.
    pub fn numel(&self) -> i64 {
        self.flat.size()[0]
    }

    /// Kind of the buffer (and of every variable).
    pub fn kind(&self) -> Kind {
        self.flat.kind()
    }

    pub fn device(&self) -> Device {
        self.flat.device()
    }

    /// Variable names in layout order (sorted).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// Gradients of the scalar `loss` with respect to every variable, as one flat fp32 tensor
    /// `[numel]` in layout order (cast from bf16/half). They are returned, not accumulated into the
    /// variables' `.grad`, so there is nothing to zero between steps. A variable that the loss does
    /// not reach gets zeros.
    pub fn grads(&self, loss: &Tensor) -> Result<Tensor> {
        // loss [] (or any one-element shape) -> grad [numel] fp32
        if loss.numel() != 1 {
            return Err(Error::Shape {
                expected: "a scalar loss".into(),
                got: loss.size(),
            });
        }
        let grads =
            Tensor::f_run_backward(&[loss], &self.vars, false, false).map_err(|source| {
                Error::Torch {
                    context: "backward of the loss".into(),
                    source,
                }
            })?;
        let parts: Vec<Tensor> = grads
            .iter()
            .zip(&self.slots)
            .map(|(g, slot)| {
                if g.defined() {
                    g.reshape([-1])
                } else {
                    Tensor::zeros([slot.numel], (self.kind(), self.device()))
                }
            })
            .collect();
        // Concatenate in the variables' kind, then cast once.
        Ok(Tensor::cat(&parts, 0).to_kind(Kind::Float))
    }

    /// Named views of any buffer `[numel]` with this layout (parameters, EMA, optimizer moments), in
    /// layout order, shaped like the variables: what a safetensors file with the model's keys holds.
    pub fn views(&self, flat: &Tensor) -> Result<Vec<(String, Tensor)>> {
        self.check_flat(flat)?;
        Ok(self
            .slots
            .iter()
            .map(|s| (s.name.clone(), slot_view(flat, s)))
            .collect())
    }

    /// Copies named tensors (e.g. read from a safetensors file) into `dst_flat [numel]`, converting
    /// kind and device. Strict: every missing key, unexpected key and shape mismatch is an error
    /// naming the key, and nothing is copied then.
    pub fn copy_from_named(&self, dst_flat: &Tensor, named: &[(String, Tensor)]) -> Result<()> {
        self.copy_from_prefixed(dst_flat, named, "")
    }

    /// [`Self::copy_from_named`] for keys `prefix + name` (one group of a state file holding
    /// several buffers); `named` must hold only keys that start with `prefix`.
    pub(crate) fn copy_from_prefixed(
        &self,
        dst_flat: &Tensor,
        named: &[(String, Tensor)],
        prefix: &str,
    ) -> Result<()> {
        self.check_flat(dst_flat)?;
        let mut given: HashMap<&str, &Tensor> = HashMap::with_capacity(named.len());
        let mut problems = Vec::new();
        for (key, tensor) in named {
            if given.insert(key.as_str(), tensor).is_some() {
                problems.push(format!("duplicate key {key}"));
            }
        }
        let mut wanted = HashSet::with_capacity(self.slots.len());
        let mut missing = Vec::new();
        for slot in &self.slots {
            let key = format!("{prefix}{}", slot.name);
            match given.get(key.as_str()) {
                None => missing.push(key.clone()),
                Some(t) if t.size() != slot.shape => problems.push(format!(
                    "{key}: shape {:?} given, the layout needs {:?}",
                    t.size(),
                    slot.shape
                )),
                Some(_) => {}
            }
            wanted.insert(key);
        }
        let mut unexpected: Vec<&str> = given
            .keys()
            .copied()
            .filter(|k| !wanted.contains(*k))
            .collect();
        unexpected.sort_unstable();
        if !missing.is_empty() {
            problems.push(format!("missing key(s) {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            problems.push(format!("unexpected key(s) {}", unexpected.join(", ")));
        }
        if !problems.is_empty() {
            return Err(Error::Keys(problems.join("; ")));
        }
        tch::no_grad(|| {
            for slot in &self.slots {
                let src = given[format!("{prefix}{}", slot.name).as_str()];
                slot_view(dst_flat, slot).copy_(src);
            }
        });
        Ok(())
    }

    /// Flattens `work_vs`, a second copy of the same model in another kind (bf16 for training) or on
    /// another device, and fills it from this buffer. Its layout must equal this one: the same
    /// names and shapes, so the same offsets; any difference is an error naming the key.
    pub fn mirror(&self, work_vs: &VarStore) -> Result<FlatParams> {
        let work = FlatParams::new(work_vs)?;
        let ours: HashMap<&str, &Slot> = self.slots.iter().map(|s| (s.name.as_str(), s)).collect();
        let theirs: HashMap<&str, &Slot> =
            work.slots.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut problems = Vec::new();
        for s in &self.slots {
            match theirs.get(s.name.as_str()) {
                None => problems.push(format!("{} is missing from the working copy", s.name)),
                Some(w) if w.shape != s.shape => problems.push(format!(
                    "{}: shape {:?} in the working copy, {:?} in the master",
                    s.name, w.shape, s.shape
                )),
                Some(_) => {}
            }
        }
        for w in &work.slots {
            if !ours.contains_key(w.name.as_str()) {
                problems.push(format!("{} is not in the master", w.name));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(format!(
                "the working copy's layout differs from the master's: {}",
                problems.join("; ")
            )));
        }
        work.sync_from(&self.flat)?;
        Ok(work)
    }

    /// Overwrites this buffer (so the variables) with `src [numel]` of the same layout: one `copy_`
    /// kernel, casting as needed (fp32 master -> bf16 working copy).
    pub fn sync_from(&self, src: &Tensor) -> Result<()> {
        self.check_flat(src)?;
        tch::no_grad(|| self.flat.shallow_clone().copy_(src));
        Ok(())
    }

    fn check_flat(&self, flat: &Tensor) -> Result<()> {
        if flat.size() != [self.numel()] {
            return Err(Error::Shape {
                expected: format!("a flat buffer [{}]", self.numel()),
                got: flat.size(),
            });
        }
        Ok(())
    }
}

/// The variable `slot` as a view of `flat` (a slice, reshaped; no copy).
fn slot_view(flat: &Tensor, slot: &Slot) -> Tensor {
    flat.narrow(0, slot.offset, slot.numel)
        .view(slot.shape.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module};

    /// Two layers plus a frozen buffer: keys a.bias, a.weight, b.bias, b.weight (+ stat).
    fn model(vs: &VarStore) -> impl Module {
        let root = vs.root();
        let _ = root.zeros_no_train("stat", &[3]);
        nn::seq()
            .add(nn::linear(&root / "a", 3, 4, Default::default()))
            .add_fn(|x| x.tanh())
            .add(nn::linear(&root / "b", 4, 2, Default::default()))
    }

    fn input() -> Tensor {
        Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.1, 0.2, -0.3]).view([2, 3])
    }

    fn value(vs: &VarStore, name: &str) -> Tensor {
        vs.variables()[name].detach().copy()
    }

    #[test]
    fn variables_become_views_of_one_buffer() {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let net = model(&vs);
        let before: Vec<Tensor> = ["a.bias", "a.weight", "b.bias", "b.weight"]
            .iter()
            .map(|n| value(&vs, n))
            .collect();
        let out_before = net.forward(&input());
        let flat = FlatParams::new(&vs).unwrap();

        assert_eq!(
            flat.names().collect::<Vec<_>>(),
            ["a.bias", "a.weight", "b.bias", "b.weight"],
            "sorted, frozen buffer left out"
        );
        assert_eq!(flat.numel(), 4 + 12 + 2 + 8);
        let expected = Tensor::cat(
            &before.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(),
            0,
        );
        assert!(flat.flat().equal(&expected), "values kept, in name order");
        assert!(net.forward(&input()).equal(&out_before), "same model");
        assert!(!flat.flat().requires_grad());

        let vars = vs.variables();
        let w = &vars["a.weight"];
        assert!(w.is_leaf() && w.requires_grad(), "still a trainable leaf");
        let elt = 4; // fp32 bytes
        assert_eq!(
            w.data_ptr() as usize,
            flat.flat().data_ptr() as usize + 4 * elt,
            "a.weight sits after a.bias"
        );

        // Writing the buffer writes the model.
        let _ = tch::no_grad(|| flat.flat().shallow_clone().fill_(0.0));
        assert_eq!(
            f64::try_from(value(&vs, "b.weight").abs().sum(Kind::Double)).unwrap(),
            0.0
        );
        assert!(net
            .forward(&input())
            .equal(&Tensor::zeros([2, 2], (Kind::Float, Device::Cpu))));
        // The frozen buffer is not part of it.
        assert_eq!(vars["stat"].size(), [3]);
    }

    #[test]
    fn grads_equal_plain_backward_and_do_not_accumulate() {
        tch::manual_seed(2);
        let vs = VarStore::new(Device::Cpu);
        let net = model(&vs);
        let unused = vs.root().randn_standard("unused", &[5]);
        let mut reference = VarStore::new(Device::Cpu);
        let ref_net = model(&reference);
        let _ = reference.root().randn_standard("unused", &[5]);
        reference.copy(&vs).unwrap();
        let flat = FlatParams::new(&vs).unwrap();

        let loss = |m: &dyn Module| m.forward(&input()).square().mean(Kind::Float);
        let g = flat.grads(&loss(&net)).unwrap();
        assert_eq!(g.size(), [flat.numel()]);
        assert_eq!(g.kind(), Kind::Float);
        assert!(!unused.grad().defined(), "nothing accumulated into .grad");

        loss(&ref_net).backward();
        let ref_vars = reference.variables();
        let expected: Vec<Tensor> = flat
            .names()
            .map(|n| {
                let grad = ref_vars[n].grad();
                if grad.defined() {
                    grad.reshape([-1])
                } else {
                    Tensor::zeros([ref_vars[n].numel() as i64], (Kind::Float, Device::Cpu))
                }
            })
            .collect();
        let expected = Tensor::cat(&expected, 0);
        assert!(g.allclose(&expected, 1e-6, 1e-7, false));
        assert_eq!(
            f64::try_from(g.narrow(0, flat.numel() - 5, 5).abs().sum(Kind::Double)).unwrap(),
            0.0,
            "an unused variable (last by name) gets zeros"
        );

        let e = flat.grads(&net.forward(&input())).unwrap_err().to_string();
        assert!(e.contains("scalar loss") && e.contains("[2, 2]"), "{e}");
    }

    #[test]
    fn views_and_strict_copies_use_the_model_keys() {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let _net = model(&vs);
        let flat = FlatParams::new(&vs).unwrap();
        let other = Tensor::arange(flat.numel(), (Kind::Float, Device::Cpu));
        let views = flat.views(&other).unwrap();
        assert_eq!(views[1].0, "a.weight");
        assert_eq!(views[1].1.size(), [4, 3]);
        assert_eq!(f64::try_from(&views[1].1.get(0).get(0)).unwrap(), 4.0);

        // Round trip through named tensors, with a kind conversion on the way.
        let named: Vec<(String, Tensor)> = views
            .iter()
            .map(|(n, t)| (n.clone(), t.to_kind(Kind::Double)))
            .collect();
        let dst = Tensor::zeros([flat.numel()], (Kind::Float, Device::Cpu));
        flat.copy_from_named(&dst, &named).unwrap();
        assert!(dst.equal(&other));

        let mut wrong: Vec<(String, Tensor)> = named
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        wrong.retain(|(n, _)| n != "b.bias");
        wrong.push((
            "c.weight".into(),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        ));
        wrong[0].1 = Tensor::zeros([5], (Kind::Float, Device::Cpu));
        let fresh = Tensor::zeros([flat.numel()], (Kind::Float, Device::Cpu));
        let e = flat
            .copy_from_named(&fresh, &wrong)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "a.bias: shape [5] given, the layout needs [4]; missing key(s) b.bias; \
             unexpected key(s) c.weight"
        );
        assert_eq!(
            f64::try_from(fresh.abs().sum(Kind::Double)).unwrap(),
            0.0,
            "nothing copied on error"
        );
        let e = flat
            .views(&Tensor::zeros([3], (Kind::Float, Device::Cpu)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[26]") && e.contains("[3]"), "{e}");
    }

    #[test]
    fn a_bf16_mirror_shares_the_layout_and_syncs_in_one_copy() {
        tch::manual_seed(4);
        let master_vs = VarStore::new(Device::Cpu);
        let _master_net = model(&master_vs);
        let master = FlatParams::new(&master_vs).unwrap();
        let mut work_vs = VarStore::new(Device::Cpu);
        let work_net = model(&work_vs);
        work_vs.bfloat16();
        let work = master.mirror(&work_vs).unwrap();

        assert_eq!(work.kind(), Kind::BFloat16);
        assert_eq!(
            work.names().collect::<Vec<_>>(),
            master.names().collect::<Vec<_>>()
        );
        assert!(work.flat().equal(&master.flat().to_kind(Kind::BFloat16)));

        // An update of the master reaches the working model after one sync.
        let _ = tch::no_grad(|| master.flat().shallow_clone().g_mul_scalar_(-2.0));
        work.sync_from(master.flat()).unwrap();
        assert!(value(&work_vs, "b.weight")
            .equal(&value(&master_vs, "b.weight").to_kind(Kind::BFloat16)));

        // Gradients of the bf16 copy come back in fp32, in the master's layout.
        let x = input().to_kind(Kind::BFloat16);
        let g = work.grads(&work_net.forward(&x).sum(Kind::Float)).unwrap();
        assert_eq!((g.kind(), g.size()), (Kind::Float, vec![master.numel()]));

        let odd_vs = VarStore::new(Device::Cpu);
        let root = odd_vs.root();
        let _ = nn::linear(&root / "a", 3, 5, Default::default());
        let _ = nn::linear(&root / "c", 4, 2, Default::default());
        let e = master.mirror(&odd_vs).unwrap_err().to_string();
        assert!(
            e.contains("a.bias: shape [5] in the working copy, [4] in the master")
                && e.contains("b.weight is missing")
                && e.contains("c.weight is not in the master"),
            "{e}"
        );
    }

    #[test]
    fn refuses_empty_and_mixed_stores() {
        let empty = VarStore::new(Device::Cpu);
        let e = FlatParams::new(&empty).unwrap_err().to_string();
        assert!(e.contains("no trainable variable"), "{e}");

        let mixed = VarStore::new(Device::Cpu);
        let _ = mixed.root().randn_standard("a", &[2]);
        let mut b = mixed.root().randn_standard("b", &[2]);
        b.set_data(&b.to_kind(Kind::Double));
        let e = FlatParams::new(&mixed).unwrap_err().to_string();
        assert!(e.contains("a is Float, b is Double"), "{e}");
    }
}
