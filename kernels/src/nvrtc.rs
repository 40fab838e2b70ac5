//! Run-time CUDA compilation (NVRTC) and a per-process module cache.
//!
//! NVRTC compiles CUDA C++ to PTX without a GPU, so CPU CI checks that kernel sources compile.
//! libnvrtc.so.13 is found through the binaries' RUNPATH (.cargo/config.toml) or LD_LIBRARY_PATH
//! (the GPU machine), but it then opens its companion libnvrtc-builtins by name, which RUNPATH does
//! not cover: [`compile`] first preloads that companion by absolute path from the venv's
//! `nvidia/cu13/lib` next to libtorch (environment.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use crate::error::{Error, Result};

const BUILTINS: &str = "libnvrtc-builtins.so.13.0";

/// Folders that may hold the venv's CUDA 13 libraries, best first.
fn library_dirs() -> Vec<PathBuf> {
    crate::cuda::torch_dirs()
        .into_iter()
        .map(|t| t.join("../nvidia/cu13/lib"))
        .collect()
}

/// Preloads NVRTC's builtins library where we can find it (the GPU machine finds it through
/// LD_LIBRARY_PATH instead), once per process; the handle stays loaded for the process.
fn preload_builtins() {
    static BUILTINS_LIB: OnceLock<Option<libloading::Library>> = OnceLock::new();
    BUILTINS_LIB.get_or_init(|| {
        library_dirs()
            .into_iter()
            .map(|dir| dir.join(BUILTINS))
            .filter(|path| path.exists())
            // SAFETY: NVRTC's own companion library; its initialisers only register builtins.
            .find_map(|path| unsafe { libloading::Library::new(path) }.ok())
    });
}

/// PTX of `src` for virtual architecture `arch` (e.g. "compute_90a"), with line info for
/// compute-sanitizer and fast math (exp2 and division approximations, as flash attention uses).
pub fn compile(src: &str, name: &str, arch: &'static str) -> Result<String> {
    preload_builtins();
    let opts = CompileOptions {
        arch: Some(arch),
        use_fast_math: Some(true),
        options: vec!["--std=c++17".into(), "-lineinfo".into()],
        name: Some(name.into()),
        ..Default::default()
    };
    // cudarc panics when it cannot find libnvrtc; report that as an error.
    let attempt = std::panic::catch_unwind(|| compile_ptx_with_opts(src, opts)).map_err(|_| {
        Error::Nvrtc("libnvrtc.so.13 not found: run scripts/setup.sh (it links .libtorch) or put the venv's nvidia/cu13/lib on LD_LIBRARY_PATH".into())
    })?;
    let ptx = attempt.map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => {
            Error::Nvrtc(format!("{name}: {}", log.to_string_lossy()))
        }
        other => Error::Nvrtc(format!("{name}: {other:?}")),
    })?;
    Ok(ptx.to_src())
}

/// The virtual architecture to compile for on a device of compute capability (major, minor):
/// Hopper gets the arch-specific "a" target (wgmma, setmaxnreg), others their plain target.
pub fn arch_for(major: i32, minor: i32) -> &'static str {
    match (major, minor) {
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90a",
        (10, 0) => "compute_100a",
        (12, 0) => "compute_120",
        // Unknown devices: one string per architecture for the life of the process.
        (ma, mi) => Box::leak(format!("compute_{ma}{mi}").into_boxed_str()),
    }
}

/// A module compiled for one device and loaded into its primary context (libtorch's context).
#[derive(Debug)]
pub struct Loaded {
    /// The device's primary context.
    pub ctx: Arc<CudaContext>,
    module: Arc<CudaModule>,
    functions: Mutex<HashMap<String, CudaFunction>>,
}

impl Loaded {
    /// The kernel `name` of this module, allowed `dynamic_smem` bytes of dynamic shared memory
    /// (above 48 KiB a kernel must opt in); looked up once per process.
    pub fn function(&self, name: &str, dynamic_smem: u32) -> Result<CudaFunction> {
        let mut map = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get(name) {
            return Ok(f.clone());
        }
        let f = self
            .module
            .load_function(name)
            .map_err(|e| Error::Driver(format!("kernel {name}: {e:?}")))?;
        if dynamic_smem > 48 * 1024 {
            use cudarc::driver::sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES as MAX_DYN;
            f.set_attribute(MAX_DYN, dynamic_smem as i32).map_err(|e| {
                Error::Driver(format!(
                    "kernel {name}: {dynamic_smem} bytes of shared memory: {e:?}"
                ))
            })?;
        }
        map.insert(name.to_string(), f.clone());
        Ok(f)
    }
}

/// Loaded modules by (module name, device ordinal).
type ModuleCache = Mutex<HashMap<(&'static str, usize), Arc<Loaded>>>;

/// `src` compiled for CUDA device `ordinal` and loaded, once per (module name, device) per process.
pub fn module(name: &'static str, src: &'static str, ordinal: usize) -> Result<Arc<Loaded>> {
    static CACHE: OnceLock<ModuleCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = map.get(&(name, ordinal)) {
        return Ok(hit.clone());
    }
    let ctx = std::panic::catch_unwind(|| CudaContext::new(ordinal))
        .map_err(|_| Error::Driver("libcuda.so could not be loaded".into()))?
        .map_err(|e| Error::Driver(format!("device {ordinal}: {e:?}")))?;
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| Error::Driver(format!("compute capability of device {ordinal}: {e:?}")))?;
    if major < 8 {
        return Err(Error::Driver(format!(
            "device {ordinal} has compute capability {major}.{minor}; the kernels need 8.0+ (bf16 mma)"
        )));
    }
    let ptx = compile(src, name, arch_for(major, minor))?;
    let module = ctx
        .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
        .map_err(|e| Error::Driver(format!("loading {name} on device {ordinal}: {e:?}")))?;
    let loaded = Arc::new(Loaded {
        ctx,
        module,
        functions: Mutex::default(),
    });
    map.insert((name, ordinal), loaded.clone());
    Ok(loaded)
}
