//! Radial sparse attention (design radial-attention.md; idea from Radial Attention, arXiv 2506.19852):
//! a static block mask whose density halves with every doubling of temporal distance, so attention
//! over long motions costs O(n log n). Three interchangeable paths behind [`crate::Attention`]:
//! the dense masked reference (tests), block-gather (any device, differentiable through libtorch
//! autograd: training) and the fused CUDA forward (inference on CUDA in bf16/fp16).

pub mod fused;
mod gather;
#[cfg(test)]
mod gpu_tests;
pub mod mask;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::Attention;
pub use gather::{gather_attention, gather_blocks};
pub use mask::{BlockLayout, BlockRule, DeviceLayout, LayoutCache};

/// The operands of one radial attention call, for the block-gather and fused paths: `q`, `k`,
/// `v [B, H, T, D]`, `key_padding [B, T]` bool (true = padded key), and the block layout over
/// ceil(T / block) blocks of `block` tokens.
#[derive(Clone, Copy)]
pub struct RadialInputs<'a> {
    pub q: &'a Tensor,
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    pub key_padding: Option<&'a Tensor>,
    pub layout: &'a DeviceLayout,
    pub block: usize,
}

/// Knobs of radial attention. The mask itself depends on `block`, `dense_core` and `decay`; the
/// schedule fields tell the caller (the denoiser) where to run dense attention instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadialConfig {
    /// Tokens per block: the unit of the mask and the fused kernel's tile (64 or 128 for the fused
    /// kernel; any size >= 1 for block-gather).
    pub block: usize,
    /// W0: half-width of the dense local band, in blocks (>= 1).
    pub dense_core: usize,
    /// Band growth (>= 1): 1 halves the kept density with every doubling of distance (the paper's
    /// rule); 2 halves it every fourfold distance, keeping more far blocks.
    pub decay: u32,
    /// The first `dense_layers` transformer layers attend densely.
    pub dense_layers: usize,
    /// The first `dense_steps_fraction` of the sampling steps (counted from the noisiest) attend densely.
    pub dense_steps_fraction: f64,
    /// Sequences shorter than this many tokens attend densely: there dense cuDNN is faster. Measured
    /// on the H100 (docs/BENCHMARKS.md, batch 1, 8 heads): fused radial and dense tie at 2,048 tokens,
    /// dense wins at 1,024, radial at 4,096 (`keta bench attention` re-measures).
    pub auto_dense_below: usize,
    /// The same for the block-gather path (CPU, fp32, training), which overtakes dense far later:
    /// `keta generate --long` with the shipped model on the CPU ran radial 1.29x slower than dense at
    /// 2,048 frames, 1.12x at 4,096 and 0.90x at 8,192 (docs/BENCHMARKS.md). Below this length dense
    /// attention is also exact where radial approximates.
    pub gather_dense_below: usize,
}

impl Default for RadialConfig {
    fn default() -> Self {
        Self {
            block: 128,
            dense_core: 1,
            decay: 1,
            dense_layers: 1,
            dense_steps_fraction: 0.25,
            auto_dense_below: 2048,
            gather_dense_below: 8192,
        }
    }
}

impl RadialConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, why| Err(Error::Config { field, value, why });
        if self.block == 0 {
            return bad("block", "0".into(), "a block holds at least one token");
        }
        if self.dense_core == 0 {
            return bad(
                "dense_core",
                "0".into(),
                "the dense core is at least 1 block",
            );
        }
        if self.decay == 0 {
            return bad("decay", "0".into(), "decay is at least 1");
        }
        if !(0.0..=1.0).contains(&self.dense_steps_fraction) {
            let v = self.dense_steps_fraction.to_string();
            return bad("dense_steps_fraction", v, "a fraction lies in [0, 1]");
        }
        Ok(())
    }

    /// The block rule of the mask.
    pub fn rule(&self) -> BlockRule {
        BlockRule {
            dense_core: self.dense_core,
            decay: self.decay,
        }
    }

    /// Whether layer `layer` (0-based) at sampling step `step` (0 = first, noisiest) of `steps`
    /// attends densely under the schedule. Training passes `step = steps` (no dense steps).
    pub fn runs_dense(&self, layer: usize, step: usize, steps: usize) -> bool {
        layer < self.dense_layers || (step as f64) < self.dense_steps_fraction * steps as f64
    }
}

/// Which radial implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RadialBackend {
    /// Fused CUDA kernel where it applies (CUDA, bf16/fp16, head dim 64/128, block 64/128, no
    /// gradient needed), block-gather otherwise.
    #[default]
    Auto,
    /// Always block-gather.
    Gather,
    /// Always the fused kernel (errors where it does not apply).
    Fused,
}

/// Radial attention behind the [`Attention`] trait, with its layouts cached per (length, device).
#[derive(Debug)]
pub struct RadialAttention {
    cfg: RadialConfig,
    backend: RadialBackend,
    cond_tokens: usize,
    cache: LayoutCache,
}

impl RadialAttention {
    /// Checks `cfg`; `backend` picks the implementation.
    pub fn new(cfg: RadialConfig, backend: RadialBackend) -> Result<Self> {
        cfg.validate()?;
        if backend == RadialBackend::Fused && !fused::BLOCKS.contains(&cfg.block) {
            return Err(Error::Config {
                field: "block",
                value: cfg.block.to_string(),
                why: "the fused kernel tiles 64 or 128 tokens",
            });
        }
        Ok(Self {
            cfg,
            backend,
            cond_tokens: 0,
            cache: LayoutCache::default(),
        })
    }

    /// The first `n` tokens of every sequence are condition tokens: they attend to everything
    /// (every query already sees them: they sit in the sink block). `n` must fit in one block.
    pub fn with_condition_tokens(mut self, n: usize) -> Result<Self> {
        if n > self.cfg.block {
            return Err(Error::Condition {
                cond: n,
                block: self.cfg.block,
            });
        }
        self.cond_tokens = n;
        Ok(self)
    }

    /// As a shared trait object for the denoiser.
    pub fn shared(self) -> Arc<dyn Attention> {
        Arc::new(self)
    }

    /// The configuration.
    pub fn config(&self) -> &RadialConfig {
        &self.cfg
    }

    /// The (cached) layout for sequences of `t` tokens on `device`.
    pub fn layout(&self, t: usize, device: Device) -> Arc<DeviceLayout> {
        self.cache
            .get(t.div_ceil(self.cfg.block), self.cfg.rule(), device)
    }

    /// Dense boolean token mask `[t, t]` (true = attend) equal to what this attention computes.
    pub fn token_mask(&self, t: usize, device: Device) -> Tensor {
        self.layout(t, device)
            .host
            .token_mask(self.cfg.block, t, self.cond_tokens, device)
    }

    /// `q`, `k`, `v [B, H, T, D]` (self-attention), `key_padding [B, T]` bool (true = padded key)
    /// -> `[B, H, T, D]`.
    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        key_padding: Option<&Tensor>,
    ) -> Result<Tensor> {
        let size = q.size();
        if size.len() != 4 || k.size() != size || v.size() != size {
            return Err(Error::Shape {
                what: "radial q/k/v (self-attention)",
                expected: format!(
                    "[B, H, T, D], all equal; q is {size:?}, v is {:?}",
                    v.size()
                ),
                got: k.size(),
            });
        }
        let t = size[2] as usize;
        if let Some(p) = key_padding {
            if p.size() != [size[0], size[2]] || p.kind() != Kind::Bool {
                return Err(Error::Shape {
                    what: "key_padding (bool)",
                    expected: format!("[{}, {}]", size[0], size[2]),
                    got: p.size(),
                });
            }
        }
        if t < self.cfg.auto_dense_below {
            return Ok(crate::DenseAttention.attend(q, k, v, key_padding));
        }
        let layout = self.layout(t, q.device());
        let needs_grad = q.requires_grad() || k.requires_grad() || v.requires_grad();
        let fused = match self.backend {
            RadialBackend::Gather => false,
            RadialBackend::Fused => true,
            RadialBackend::Auto => {
                !needs_grad
                    && q.device().is_cuda()
                    && matches!(q.kind(), Kind::BFloat16 | Kind::Half)
                    && fused::HEAD_DIMS.contains(&size[3])
                    && fused::BLOCKS.contains(&self.cfg.block)
            }
        };
        if !fused && t < self.cfg.gather_dense_below {
            return Ok(crate::DenseAttention.attend(q, k, v, key_padding));
        }
        let out = if fused {
            let (q, k, v) = (q.contiguous(), k.contiguous(), v.contiguous());
            let pad = key_padding.map(Tensor::contiguous);
            fused::forward(RadialInputs {
                q: &q,
                k: &k,
                v: &v,
                key_padding: pad.as_ref(),
                layout: &layout,
                block: self.cfg.block,
            })?
            .0
        } else {
            gather_attention(RadialInputs {
                q,
                k,
                v,
                key_padding,
                layout: &layout,
                block: self.cfg.block,
            })
        }; // [B, H, T, D]
        if self.cond_tokens == 0 {
            return Ok(out);
        }
        // Condition rows attend densely: a [B, H, c, T] product, cheap next to the sparse part.
        let c = self.cond_tokens as i64;
        let cond = crate::DenseAttention.attend(&q.narrow(2, 0, c), k, v, key_padding);
        Ok(Tensor::cat(&[cond, out.narrow(2, c, t as i64 - c)], 2))
    }
}

impl Attention for RadialAttention {
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, key_padding: Option<&Tensor>) -> Tensor {
        // The trait is infallible; inputs come from the model, whose shapes are checked upstream.
        match self.forward(q, k, v, key_padding) {
            Ok(out) => out,
            Err(e) => panic!("radial attention: {e}"),
        }
    }

    fn name(&self) -> &'static str {
        "radial"
    }

    fn dense_at(&self, layer: usize, tokens: usize, step: usize, steps: usize) -> bool {
        tokens < self.cfg.auto_dense_below || self.cfg.runs_dense(layer, step, steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, pad: &Tensor, mask: &Tensor) -> Tensor {
        let allowed = mask
            .unsqueeze(0)
            .logical_and(&pad.logical_not().unsqueeze(1)); // [B, T, T]
        let allowed = allowed.unsqueeze(1); // [B, 1, T, T]
        Tensor::scaled_dot_product_attention(q, k, v, Some(&allowed), 0.0, false, None, false)
    }

    #[test]
    fn condition_rows_attend_densely_and_short_sequences_go_dense() {
        tch::manual_seed(3);
        let cfg = RadialConfig {
            block: 4,
            auto_dense_below: 0,
            gather_dense_below: 0,
            ..RadialConfig::default()
        };
        let attn = RadialAttention::new(cfg.clone(), RadialBackend::Gather)
            .unwrap()
            .with_condition_tokens(3)
            .unwrap();
        let (b, h, t, d) = (2, 2, 41, 8);
        let make = || Tensor::randn([b, h, t, d], (Kind::Float, Device::Cpu));
        let (q, k, v) = (make(), make(), make());
        let pad = Tensor::zeros([b, t], (Kind::Bool, Device::Cpu));
        let _ = pad.narrow(0, 0, 1).narrow(1, t - 5, 5).fill_(1);
        let out = attn.forward(&q, &k, &v, Some(&pad)).unwrap();
        let mask = attn.token_mask(t as usize, Device::Cpu);
        let want = reference(&q, &k, &v, &pad, &mask);
        let err = (&out - &want).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{err}");
        // A condition row differs from what the block rule alone gives it.
        let sparse = RadialAttention::new(cfg.clone(), RadialBackend::Gather).unwrap();
        let plain = sparse.forward(&q, &k, &v, Some(&pad)).unwrap();
        let row0 = (out.narrow(2, 0, 1) - plain.narrow(2, 0, 1)).abs().max();
        assert!(row0.double_value(&[]) > 1e-3);

        let dense_below = RadialAttention::new(
            RadialConfig {
                auto_dense_below: 64,
                ..cfg
            },
            RadialBackend::Gather,
        )
        .unwrap();
        let out = dense_below.forward(&q, &k, &v, Some(&pad)).unwrap();
        let want = crate::DenseAttention.attend(&q, &k, &v, Some(&pad));
        assert!((out - &want).abs().max().double_value(&[]) < 1e-6);
        // Block-gather has its own, later threshold: below it the result is dense, at it sparse.
        let gather = |below| {
            let c = RadialConfig {
                gather_dense_below: below,
                ..cfg.clone()
            };
            let a = RadialAttention::new(c, RadialBackend::Gather).unwrap();
            (a.forward(&q, &k, &v, Some(&pad)).unwrap() - &want)
                .abs()
                .max()
                .double_value(&[])
        };
        assert!(gather(42) < 1e-6);
        assert!(gather(41) > 1e-3);
    }

    #[test]
    fn bad_configs_and_inputs_are_named() {
        let cfg = |f: fn(&mut RadialConfig)| {
            let mut c = RadialConfig::default();
            f(&mut c);
            RadialAttention::new(c, RadialBackend::Auto)
                .unwrap_err()
                .to_string()
        };
        assert!(cfg(|c| c.dense_core = 0).contains("dense_core = 0"));
        assert!(cfg(|c| c.decay = 0).contains("decay = 0"));
        assert!(cfg(|c| c.dense_steps_fraction = 1.5).contains("1.5"));
        let fused = RadialConfig {
            block: 32,
            ..RadialConfig::default()
        };
        let err = RadialAttention::new(fused, RadialBackend::Fused).unwrap_err();
        assert!(err.to_string().contains("block = 32"), "{err}");
        let attn = RadialAttention::new(RadialConfig::default(), RadialBackend::Auto).unwrap();
        let err = attn.with_condition_tokens(200).unwrap_err().to_string();
        assert!(err.contains("200") && err.contains("128"), "{err}");
        let attn = RadialAttention::new(RadialConfig::default(), RadialBackend::Auto).unwrap();
        let x = Tensor::zeros([1, 2, 10, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::zeros([1, 2, 11, 8], (Kind::Float, Device::Cpu));
        let err = attn.forward(&x, &y, &x, None).unwrap_err().to_string();
        assert!(err.contains("11"), "{err}");
    }

    #[test]
    fn config_reads_json_with_defaults_and_rejects_unknown_keys() {
        let c: RadialConfig = serde_json::from_str(r#"{"dense_core": 2}"#).unwrap();
        assert_eq!(c.dense_core, 2);
        assert_eq!(c.block, RadialConfig::default().block);
        let err = serde_json::from_str::<RadialConfig>(r#"{"dense_cores": 2}"#).unwrap_err();
        assert!(err.to_string().contains("dense_cores"), "{err}");
    }

    #[test]
    fn schedule_runs_first_layers_and_steps_dense() {
        let c = RadialConfig::default(); // 1 dense layer, first quarter of the steps dense
        assert!(c.runs_dense(0, 40, 50));
        assert!(c.runs_dense(3, 12, 50));
        assert!(!c.runs_dense(3, 13, 50));
        assert!(!c.runs_dense(1, 50, 50));
    }
}
