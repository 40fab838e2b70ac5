//! The fused radial forward: block-sparse flash attention over the CSR layout, compiled by NVRTC
//! for the device on first use (cached per process) and launched with cudarc on the tch tensors'
//! device pointers, on the legacy default stream (libtorch's default stream; not inside a
//! CUDA-graph capture, which records a side stream). Four kernels: on Hopper (sm_90a) for blocks
//! of 128 the warp-specialized one (radial_fwd_ws.cu: TMA producer, two ping-pong consumer
//! warpgroups), at head dim 64 its persistent form (radial_fwd_pws.cu), and one-warpgroup wgmma
//! (radial_fwd_wgmma.cu) for blocks of 64 and short inputs; mma.sync (radial_fwd.cu) elsewhere.

use cudarc::driver::{LaunchConfig, PushKernelArg};
use tch::{Device, Kind, Tensor};

use super::RadialInputs;
use crate::error::{Error, Result};

/// The mma.sync kernel's source (any GPU from sm_80), compiled at run time.
pub const SOURCE: &str = concat!(
    include_str!("radial_common.cu"),
    include_str!("radial_fwd.cu")
);
/// The Hopper kernel's source (wgmma, sm_90a only).
pub const WGMMA_SOURCE: &str = concat!(
    include_str!("radial_common.cu"),
    include_str!("wgmma_common.cu"),
    include_str!("radial_fwd_wgmma.cu")
);
/// The warp-specialized Hopper kernel's source (TMA producer, two ping-pong consumers; sm_90a,
/// blocks of 128 tokens).
pub const WS_SOURCE: &str = concat!(
    include_str!("radial_common.cu"),
    include_str!("wgmma_common.cu"),
    include_str!("tma_common.cu"),
    include_str!("radial_fwd_ws.cu")
);
/// The persistent warp-specialized Hopper kernel's source (one CTA per SM taking query blocks
/// from a ticket counter; sm_90a, head dim 64, blocks of 128 tokens).
pub const PWS_SOURCE: &str = concat!(
    include_str!("radial_common.cu"),
    include_str!("wgmma_common.cu"),
    include_str!("tma_common.cu"),
    include_str!("radial_fwd_pws.cu")
);

/// Which fused kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedKernel {
    /// `KETA_RADIAL_KERNEL=mma|wgmma|ws|pws` if set, else on compute capability 9.0 (Hopper) the
    /// warp-specialized kernel (`Pws` at head dim 64 from [`PWS_MIN_TOKENS`], `Wgmma` for blocks
    /// of 64 and below [`WS_MIN_TOKENS`]) and mma.sync elsewhere.
    Auto,
    /// mma.sync.m16n8k16 (radial_fwd.cu): sm_80 and later.
    MmaSync,
    /// Warpgroup MMA (radial_fwd_wgmma.cu): sm_90 only.
    Wgmma,
    /// Warp-specialized warpgroup MMA with TMA (radial_fwd_ws.cu): sm_90 only, blocks of 128
    /// (other blocks run `Wgmma`).
    Ws,
    /// `Ws` made persistent (radial_fwd_pws.cu): one CTA per SM streams query blocks, so their
    /// start and end overlap. sm_90 only, head dim 64 and blocks of 128 (head dim 128 runs `Ws`).
    Pws,
}

/// `KETA_RADIAL_KERNEL`, read once per process: `forward` runs per layer and sampling step.
fn requested() -> Option<&'static str> {
    static VALUE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    VALUE
        .get_or_init(|| std::env::var("KETA_RADIAL_KERNEL").ok())
        .as_deref()
}

/// Below this many tokens `Auto` runs the one-warpgroup wgmma kernel instead of the
/// warp-specialized ones: its fixed costs (three warpgroups, two TMA maps encoded per call) then
/// outweigh their speed. H200, `keta bench attention`, two calls: at 2k tokens ws takes
/// 0.0118-0.0131 ms against wgmma's 0.0142-0.0144 (d64) and 0.0153 against 0.0189-0.0191 (d128);
/// at 1k they are level (d64 0.0101 / 0.0104, d128 0.0131 / 0.0126). (On an H100 in the sixth
/// session the line sat at 4k; the warp-specialized kernels have lost fixed costs since.)
pub const WS_MIN_TOKENS: i64 = 2048;

/// Below this many tokens `Auto` runs `Ws` where it would run the persistent `Pws` (head dim
/// 64): with a few query blocks per SM the persistent kernel's ticket and item hand-off do not
/// pay (H200, 2k tokens: pws 0.0131-0.0139 ms, ws 0.0118-0.0131; 4k: 0.0231 and 0.0233).
pub const PWS_MIN_TOKENS: i64 = 4096;

impl FusedKernel {
    /// The kernel that runs for `tokens` tokens of head dim `d` in blocks of `block` on device
    /// `ordinal`: this choice resolved; the warp-specialized kernels only for blocks of 128 (and,
    /// under `Auto`, from [`WS_MIN_TOKENS`] on), the one-warpgroup wgmma kernel in their place
    /// otherwise; the persistent one only at head dim 64 (`Ws` at 128, and below
    /// [`PWS_MIN_TOKENS`] under `Auto`).
    pub fn for_shape(
        self,
        ordinal: usize,
        tokens: i64,
        block: usize,
        d: i64,
    ) -> Result<FusedKernel> {
        Ok(match self.resolve(ordinal)? {
            FusedKernel::Ws | FusedKernel::Pws
                if block != 128 || (self == FusedKernel::Auto && tokens < WS_MIN_TOKENS) =>
            {
                FusedKernel::Wgmma
            }
            FusedKernel::Pws
                if d != 64 || (self == FusedKernel::Auto && tokens < PWS_MIN_TOKENS) =>
            {
                FusedKernel::Ws
            }
            chosen => chosen,
        })
    }

    /// The kernel that runs on CUDA device `ordinal` for this choice.
    pub fn resolve(self, ordinal: usize) -> Result<FusedKernel> {
        let hopper = || {
            crate::cuda::capability(ordinal)
                .map(|cc| cc == (9, 0))
                .map_err(Error::Driver)
        };
        match self {
            FusedKernel::Auto => match requested() {
                Some("mma") => Ok(FusedKernel::MmaSync),
                Some("wgmma") => FusedKernel::Wgmma.resolve(ordinal),
                Some("ws") => FusedKernel::Ws.resolve(ordinal),
                Some("pws") => FusedKernel::Pws.resolve(ordinal),
                Some(other) => Err(Error::Kernel(format!(
                    "KETA_RADIAL_KERNEL={other}: expected mma, wgmma, ws or pws"
                ))),
                None if hopper()? => Ok(FusedKernel::Pws),
                None => Ok(FusedKernel::MmaSync),
            },
            FusedKernel::Wgmma | FusedKernel::Ws | FusedKernel::Pws if !hopper()? => {
                Err(Error::Kernel(format!(
                "the {self:?} radial kernel needs compute capability 9.0 (Hopper); device {ordinal} has {:?}",
                crate::cuda::capability(ordinal).map_err(Error::Driver)?
            )))
            }
            chosen => Ok(chosen),
        }
    }
}

/// How a kernel's CTAs cover the work.
#[derive(Clone, Copy)]
enum Grid {
    /// `parts` CTAs per query block along x, heads along y, batch along z.
    PerBlock { parts: u32 },
    /// One CTA per SM (at most one per query block), taking query blocks as it goes.
    Persistent,
}

/// One kernel instance and its launch shape.
struct Launch {
    name: String,
    /// The NVRTC module (name, source) holding the entry.
    module: (&'static str, &'static str),
    grid: Grid,
    threads: u32,
    smem: u32,
}

impl Launch {
    /// `kernel` is resolved (not `Auto`).
    fn new(kind: Kind, d: i64, block: usize, kernel: FusedKernel) -> Self {
        let name = |prefix| entry(kind, d, block).replace("radial_fwd_", prefix);
        let d = d as u32;
        match kernel {
            // One CTA of three warpgroups per query block; a ring of 3 (d 128) or 6 (d 64)
            // stages of K and V tiles of 128 keys (192 KiB, radial_fwd_ws.cu's WsRing), two
            // mbarriers per stage, and 1 KiB to align the tiles.
            FusedKernel::Ws => {
                let stages = if d == 128 { 3 } else { 6 };
                Launch {
                    name: name("radial_ws_"),
                    module: ("radial_ws", WS_SOURCE),
                    grid: Grid::PerBlock { parts: 1 },
                    threads: 384,
                    smem: 1024 + stages * (2 * 128 * d * 2 + 2 * 8),
                }
            }
            // Three warpgroups per SM; a ring of 5 stages of K and V tiles (two mbarriers and the
            // tile's first key each), two Q slots (two mbarriers and four ints of item info each),
            // 1 KiB to align the tiles (radial_fwd_pws.cu, head dim 64 only).
            FusedKernel::Pws => Launch {
                name: name("radial_pws_"),
                module: ("radial_pws", PWS_SOURCE),
                grid: Grid::Persistent,
                threads: 384,
                smem: 1024 + 5 * (2 * 128 * d * 2 + 2 * 8 + 4) + 2 * (128 * d * 2 + 2 * 8 + 16),
            },
            // One warpgroup per 64 query rows; swizzled K and V tiles of 64 keys in a ring of
            // `stages` (radial_fwd_wgmma.cu's rule), a key bias and first key per stage, and 1 KiB
            // to align the tiles.
            FusedKernel::Wgmma => {
                let stages = if d == 128 { 3 } else { 4 };
                Launch {
                    name: name("radial_wgmma_"),
                    module: ("radial_wgmma", WGMMA_SOURCE),
                    grid: Grid::PerBlock {
                        parts: block as u32 / 64,
                    },
                    threads: 128,
                    smem: 1024 + stages * (2 * 64 * d * 2 + 64 * 4 + 4),
                }
            }
            // K and V tiles of 64 keys, double-buffered, rows padded by 8 elements; a key bias
            // per stage. BLOCK/16 warps.
            FusedKernel::MmaSync | FusedKernel::Auto => Launch {
                name: name("radial_fwd_"),
                module: ("radial_fwd", SOURCE),
                grid: Grid::PerBlock { parts: 1 },
                threads: block as u32 * 2,
                smem: (2 * 2 * 64 * (d + 8) * 2) + 2 * 64 * 4,
            },
        }
    }
}

/// Head dims with a kernel instance.
pub const HEAD_DIMS: [i64; 2] = [64, 128];
/// Block sizes (tokens) with a kernel instance.
pub const BLOCKS: [usize; 2] = [64, 128];

/// The kernel entry for a dtype, head dim and block.
pub fn entry(kind: Kind, d: i64, block: usize) -> String {
    let dtype = if kind == Kind::BFloat16 {
        "bf16"
    } else {
        "f16"
    };
    format!("radial_fwd_{dtype}_d{d}_b{block}")
}

fn check_tensor(
    what: &'static str,
    x: &Tensor,
    size: &[i64],
    kind: Kind,
    dev: Device,
) -> Result<()> {
    if x.size() != size {
        return Err(Error::Shape {
            what,
            expected: format!("{size:?}"),
            got: x.size(),
        });
    }
    if x.kind() != kind {
        let expected = match kind {
            Kind::BFloat16 => "bfloat16 (as q)",
            Kind::Half => "float16 (as q)",
            Kind::Bool => "bool",
            _ => "int32",
        };
        return Err(Error::Dtype {
            what,
            expected,
            got: x.kind(),
        });
    }
    if x.device() != dev {
        return Err(Error::Device {
            what,
            expected: format!("{dev:?}"),
            got: x.device(),
        });
    }
    if !x.is_contiguous() {
        return Err(Error::NotContiguous {
            what,
            strides: x.stride(),
        });
    }
    Ok(())
}

/// [`RadialInputs`] (q, k, v bf16 or fp16, contiguous, on one CUDA device with the layout) ->
/// (`out [B, H, T, D]` in q's dtype, `lse [B, H, T]` fp32 natural-log softmax denominators).
/// A query row with no real key gets zeros and lse = -inf.
pub fn forward(inputs: RadialInputs) -> Result<(Tensor, Tensor)> {
    forward_with(FusedKernel::Auto, inputs)
}

/// [`forward`] with the kernel chosen by the caller (benchmarks and tests compare the two).
pub fn forward_with(kernel: FusedKernel, inputs: RadialInputs) -> Result<(Tensor, Tensor)> {
    let RadialInputs {
        q,
        k,
        v,
        key_padding,
        layout,
        block,
    } = inputs;
    // 1. Checks, each naming the bad value, before anything unsafe.
    let size = q.size();
    if size.len() != 4 {
        return Err(Error::Shape {
            what: "q",
            expected: "[B, H, T, D]".into(),
            got: size,
        });
    }
    let (b, h, t, d) = (size[0], size[1], size[2], size[3]);
    let dev = q.device();
    let kind = q.kind();
    if !matches!(kind, Kind::BFloat16 | Kind::Half) {
        return Err(Error::Dtype {
            what: "q",
            expected: "bfloat16 or float16",
            got: kind,
        });
    }
    if !HEAD_DIMS.contains(&d) {
        return Err(Error::HeadDim(d));
    }
    if !BLOCKS.contains(&block) {
        return Err(Error::Config {
            field: "block",
            value: block.to_string(),
            why: "the fused kernel tiles 64 or 128 tokens",
        });
    }
    let ordinal = match dev {
        Device::Cuda(i) => i,
        other => {
            return Err(Error::Device {
                what: "q",
                expected: "a CUDA device".into(),
                got: other,
            })
        }
    };
    if b > 65535 || h > 65535 || t > i32::MAX as i64 || t == 0 {
        return Err(Error::Shape {
            what: "q (grid limits: B, H <= 65535, 0 < T < 2^31)",
            expected: "[B, H, T, D]".into(),
            got: size,
        });
    }
    check_tensor("q", q, &size, kind, dev)?;
    check_tensor("k", k, &size, kind, dev)?;
    check_tensor("v", v, &size, kind, dev)?;
    if let Some(p) = key_padding {
        check_tensor("key_padding", p, &[b, t], Kind::Bool, dev)?;
    }
    let nb = layout.host.nb as i64;
    check_tensor("layout row_ptr", &layout.row_ptr, &[nb + 1], Kind::Int, dev)?;
    check_tensor(
        "layout col_idx",
        &layout.col_idx,
        &[layout.host.nnz() as i64],
        Kind::Int,
        dev,
    )?;
    check_tensor("layout order", &layout.order, &[nb], Kind::Int, dev)?;
    let want_nb = (t + block as i64 - 1) / block as i64;
    if nb != want_nb {
        return Err(Error::Shape {
            what: "layout (blocks)",
            expected: format!("{want_nb} blocks for T = {t}, block {block}"),
            got: vec![nb],
        });
    }

    // 2. Outputs, module, launch: grid (query blocks x parts, heads, batch).
    let out = Tensor::empty([b, h, t, d], (kind, dev));
    let lse = Tensor::empty([b, h, t], (Kind::Float, dev));
    let items = nb * h * b; // query blocks x heads x batch
    let chosen = match kernel.for_shape(ordinal, t, block, d)? {
        // The persistent kernel's tickets are 32-bit.
        FusedKernel::Pws if items > i32::MAX as i64 => FusedKernel::Ws,
        chosen => chosen,
    };
    let kernel = Launch::new(kind, d, block, chosen);
    let loaded = crate::nvrtc::module(kernel.module.0, kernel.module.1, ordinal)?;
    let func = loaded.function(&kernel.name, kernel.smem)?;
    let stream = loaded.ctx.default_stream();
    let ptr = |x: &Tensor| x.data_ptr() as u64;
    let (qp, kp, vp, op, lp) = (ptr(q), ptr(k), ptr(v), ptr(&out), ptr(&lse));
    let pad = key_padding.map_or(0u64, ptr);
    let (rp, cp, order) = (
        ptr(&layout.row_ptr),
        ptr(&layout.col_idx),
        ptr(&layout.order),
    );
    let (heads, tokens) = (h as i32, t as i32);
    let (blocks, items32) = (nb as i32, items as i32);
    let scale_log2 = std::f32::consts::LOG2_E / (d as f32).sqrt();
    // The warp-specialized kernels read K and V through TMA maps (the persistent one Q too), the
    // others through pointers.
    let maps = match chosen {
        FusedKernel::Ws => Some((tensor_map(k)?, tensor_map(v)?, None)),
        FusedKernel::Pws => Some((tensor_map(k)?, tensor_map(v)?, Some(tensor_map(q)?))),
        _ => None,
    };
    let grid_dim = match kernel.grid {
        Grid::PerBlock { parts } => (nb as u32 * parts, h as u32, b as u32),
        Grid::Persistent => {
            let sms = crate::cuda::sm_count(ordinal).map_err(Error::Driver)?;
            (items.min(sms as i64) as u32, 1, 1)
        }
    };
    let cfg = LaunchConfig {
        grid_dim,
        block_dim: (kernel.threads, 1, 1),
        shared_mem_bytes: kernel.smem,
    };
    let mut launch = stream.launch_builder(&func);
    match &maps {
        Some((kmap, vmap, Some(qmap))) => launch.arg(kmap).arg(vmap).arg(qmap),
        Some((kmap, vmap, None)) => launch.arg(kmap).arg(vmap).arg(&qp),
        None => launch.arg(&qp).arg(&kp).arg(&vp),
    };
    launch
        .arg(&op) /* o */
        .arg(&lp) /* lse */
        .arg(&pad) /* key_pad (0 = none) */
        .arg(&rp) /* row_ptr */
        .arg(&cp) /* col_idx */
        .arg(&order) /* order: query blocks, longest row first */
        .arg(&heads) /* H */
        .arg(&tokens); /* T */
    if let Grid::Persistent = kernel.grid {
        launch.arg(&blocks).arg(&items32); /* nb, items */
    }
    launch.arg(&scale_log2); /* scale_log2 */
    // SAFETY: every pointer is a live, contiguous CUDA tensor on this device whose shape and dtype
    // were checked above to match the kernel's [B, H, T, D] / [B, T] / CSR expectations, and the
    // tensor maps address k, v (and q); the tensors outlive the launch (the stream orders later
    // libtorch work after it).
    unsafe { launch.launch(cfg) }
        .map_err(|e| Error::Driver(format!("launching {}: {e:?}", kernel.name)))?;
    Ok((out, lse))
}

/// A CUDA tensor map (`CUtensorMap`, 128 bytes, 64-aligned), passed to the kernel by value.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct TensorMap([u64; 16]);

// SAFETY: plain bytes with the layout and alignment of CUtensorMap, which the kernel declares as a
// `__grid_constant__` parameter of the same size.
unsafe impl cudarc::driver::DeviceRepr for TensorMap {}

/// The TMA map of a [B, H, T, D] tensor seen as [B*H, T, D]: boxes of 64 dims x 128 keys, 128-byte
/// swizzle (wgmma's canonical layout), keys past T read as zeros.
fn tensor_map(x: &Tensor) -> Result<TensorMap> {
    use cudarc::driver::sys;
    let size = x.size();
    let (bh, t, d) = ((size[0] * size[1]) as u64, size[2] as u64, size[3] as u64);
    let dtype = if x.kind() == Kind::BFloat16 {
        sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
    } else {
        sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16
    };
    let dims = [d, t, bh];
    let strides = [d * 2, t * d * 2]; // bytes, dims 1 and 2
    let boxes = [64u32, 128, 1];
    let steps = [1u32, 1, 1];
    let mut map = TensorMap([0; 16]);
    // SAFETY: the pointers address live arrays of the rank (3) the call is given; `x` is a live,
    // contiguous CUDA tensor (checked by the caller) and the map only records its address.
    let rc = unsafe {
        sys::cuTensorMapEncodeTiled(
            &mut map as *mut TensorMap as *mut sys::CUtensorMap,
            dtype,
            3,
            x.data_ptr(),
            dims.as_ptr(),
            strides.as_ptr(),
            boxes.as_ptr(),
            steps.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    if rc != sys::CUresult::CUDA_SUCCESS {
        return Err(Error::Driver(format!(
            "cuTensorMapEncodeTiled for {size:?}: {rc:?}"
        )));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::{BlockRule, LayoutCache};

    /// NVRTC needs no GPU: CPU CI checks that the source compiles for Hopper and uses tensor cores.
    #[test]
    fn compiles_for_sm90a_with_nvrtc() {
        let ptx = crate::nvrtc::compile(SOURCE, "radial_fwd", "compute_90a").unwrap();
        for kind in [Kind::BFloat16, Kind::Half] {
            for d in HEAD_DIMS {
                for block in BLOCKS {
                    let name = entry(kind, d, block);
                    assert!(ptx.contains(&format!(".entry {name}(")), "{name} missing");
                }
            }
        }
        assert!(ptx.contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
        assert!(ptx.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"));
        assert!(ptx.contains(".target sm_90a"));
    }

    /// NVRTC passes inline assembly through unread: the torch wheel's ptxas (no GPU needed)
    /// assembles every kernel's PTX for sm_90a, so a malformed mma/wgmma/cp.async/TMA string
    /// fails here, not on the GPU machine. The Hopper kernels must also keep their products
    /// asynchronous: ptxas says when it serialises them (e.g. an accumulator touched before its
    /// wait, or different products in flight where two paths meet).
    #[test]
    fn assembles_for_sm90a_with_ptxas() {
        let ptxas = crate::cuda::torch_dirs()
            .into_iter()
            .map(|dir| dir.join("bin/ptxas"))
            .find(|p| p.is_file())
            .expect("ptxas ships in the torch wheel (torch/bin/ptxas): run scripts/setup.sh");
        let dir = tempfile::tempdir().unwrap();
        for (name, src, entries) in [
            ("radial_fwd", SOURCE, 8),
            ("radial_wgmma", WGMMA_SOURCE, 8),
            ("radial_ws", WS_SOURCE, 4),
            ("radial_pws", PWS_SOURCE, 2),
        ] {
            let (ptx, cubin) = (
                dir.path().join(format!("{name}.ptx")),
                dir.path().join(format!("{name}.cubin")),
            );
            std::fs::write(
                &ptx,
                crate::nvrtc::compile(src, name, "compute_90a").unwrap(),
            )
            .unwrap();
            let out = std::process::Command::new(&ptxas)
                .args(["-arch=sm_90a", "-v", "-o"])
                .arg(&cubin)
                .arg(&ptx)
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}: ptxas failed:\n{log}");
            assert_eq!(
                log.matches("Compiling entry function").count(),
                entries,
                "{name}: {log}"
            );
            assert!(!log.contains("serialized"), "{name}: {log}");
            // The Hopper kernel keeps everything in registers (the mma.sync one spills 48 bytes
            // at d 64, block 128).
            if name != "radial_fwd" {
                let spills = log.lines().filter(|l| l.contains("spill stores"));
                assert!(spills.clone().count() == entries, "{log}");
                assert!(
                    spills.clone().all(|l| l.contains(" 0 bytes spill stores")),
                    "{log}"
                );
            }
        }
    }

    /// The Hopper kernel's entries exist for every dtype, head dim and block, with both products
    /// on warpgroup MMA (the S product K-major, P V from the transposed V tile).
    #[test]
    fn wgmma_kernel_compiles_for_sm90a_with_nvrtc() {
        let ptx = crate::nvrtc::compile(WGMMA_SOURCE, "radial_wgmma", "compute_90a").unwrap();
        for kind in [Kind::BFloat16, Kind::Half] {
            for d in HEAD_DIMS {
                for block in BLOCKS {
                    let name = entry(kind, d, block).replace("radial_fwd_", "radial_wgmma_");
                    assert!(ptx.contains(&format!(".entry {name}(")), "{name} missing");
                }
            }
        }
        for shape in ["m64n64k16.f32.bf16.bf16", "m64n128k16.f32.f16.f16"] {
            assert!(
                ptx.contains(&format!("wgmma.mma_async.sync.aligned.{shape}")),
                "{shape}"
            );
        }
    }

    #[test]
    fn rejects_bad_inputs_naming_the_value() {
        let cache = LayoutCache::default();
        let rule = BlockRule {
            dense_core: 1,
            decay: 1,
        };
        let layout = cache.get(2, rule, Device::Cpu);
        // Self-attention on `x` in blocks of `block`: the error's text.
        let error = |x: &Tensor, block| {
            let inputs = RadialInputs {
                q: x,
                k: x,
                v: x,
                key_padding: None,
                layout: &layout,
                block,
            };
            forward(inputs).unwrap_err().to_string()
        };
        let x = Tensor::zeros([1, 2, 200, 64], (Kind::BFloat16, Device::Cpu));
        let err = error(&x, 128);
        assert!(err.contains("Cpu"), "{err}");
        let err = error(
            &Tensor::zeros([1, 2, 200, 96], (Kind::BFloat16, Device::Cpu)),
            128,
        );
        assert!(err.contains("96"), "{err}");
        let err = error(
            &Tensor::zeros([1, 2, 200, 64], (Kind::Float, Device::Cpu)),
            128,
        );
        assert!(err.contains("Float"), "{err}");
        let err = error(&x, 96);
        assert!(err.contains("block = 96"), "{err}");
    }
}
