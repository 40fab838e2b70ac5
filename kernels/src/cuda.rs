//! The CUDA driver through cudarc, loaded at run time: CPU-only machines build and run keta and only
//! fail (with an error, never a crash) when they ask for a GPU.

/// The primary context of CUDA device `ordinal`. cudarc panics when libcuda.so cannot be loaded;
/// that becomes an error, so CPU-only machines fail cleanly when they ask for a GPU.
fn context(ordinal: usize) -> Result<std::sync::Arc<cudarc::driver::CudaContext>, String> {
    std::panic::catch_unwind(|| {
        cudarc::driver::CudaContext::new(ordinal).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|_| Err("the CUDA driver (libcuda.so) could not be loaded".to_string()))
}

/// Name of CUDA device `ordinal` (e.g. "NVIDIA H100 80GB HBM3").
pub fn device_name(ordinal: usize) -> Result<String, String> {
    context(ordinal)?.name().map_err(|e| e.to_string())
}

/// What the kernels' launch choices need to know of a device.
#[derive(Clone, Copy, Debug)]
struct DeviceInfo {
    capability: (i32, i32),
    sms: u32,
}

/// Device `ordinal`'s [`DeviceInfo`], asked once per device per process.
fn info(ordinal: usize) -> Result<DeviceInfo, String> {
    use cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT as SMS;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<usize, DeviceInfo>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(&known) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ordinal)
    {
        return Ok(known);
    }
    let ctx = context(ordinal)?;
    let known = DeviceInfo {
        capability: ctx.compute_capability().map_err(|e| e.to_string())?,
        sms: ctx.attribute(SMS).map_err(|e| e.to_string())? as u32,
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ordinal, known);
    Ok(known)
}

/// Compute capability (major, minor) of CUDA device `ordinal`, asked once per device per process.
pub fn capability(ordinal: usize) -> Result<(i32, i32), String> {
    info(ordinal).map(|i| i.capability)
}

/// Streaming multiprocessors of CUDA device `ordinal` (the persistent kernel's grid).
pub fn sm_count(ordinal: usize) -> Result<u32, String> {
    info(ordinal).map(|i| i.sms)
}

/// Where libtorch may be (the torch wheel's folder, whose `../nvidia/*/lib` hold the CUDA, NVRTC
/// and NCCL libraries), best first.
pub fn torch_dirs() -> Vec<std::path::PathBuf> {
    use std::path::PathBuf;
    let mut torch = Vec::new();
    // Set by cargo ([env] in .cargo/config.toml) for builds and `cargo test`.
    if let Ok(dir) = std::env::var("LIBTORCH") {
        torch.push(PathBuf::from(dir));
    }
    if let Some(dir) = option_env!("LIBTORCH") {
        torch.push(PathBuf::from(dir));
    }
    // target/<profile>/keta and target/<profile>/deps/<test>: the same places as the RUNPATH.
    if let Ok(exe) = std::env::current_exe() {
        for up in [2, 3] {
            if let Some(root) = exe.ancestors().nth(up) {
                torch.push(root.join(".libtorch"));
            }
        }
    }
    torch
}

/// GPU milliseconds per call of `f` over `calls` back-to-back calls: CUDA events recorded on the
/// legacy default stream of device `ordinal` (libtorch's default stream, where the fused kernels
/// run too) before the first call and after the last, as `torch.cuda.Event` times a loop in
/// Python. Waits for the end event.
pub fn gpu_ms_per_call(ordinal: usize, calls: usize, f: &mut impl FnMut()) -> Result<f64, String> {
    use cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT;
    let stream = context(ordinal)?.default_stream();
    let record = || {
        stream
            .record_event(Some(CU_EVENT_DEFAULT))
            .map_err(|e| format!("recording a CUDA event: {e}"))
    };
    let start = record()?;
    for _ in 0..calls {
        f();
    }
    let end = record()?;
    let ms = start
        .elapsed_ms(&end)
        .map_err(|e| format!("reading CUDA event times: {e}"))?;
    Ok(ms as f64 / calls.max(1) as f64)
}

extern "C" {
    fn keta_current_stream(
        device: std::ffi::c_int,
        out: *mut *mut std::ffi::c_void,
    ) -> std::ffi::c_int;
}

/// libtorch's current stream on CUDA device `device` (a `cudaStream_t`; null is the legacy default
/// stream, libtorch's default), where work must go to be ordered with libtorch's kernels.
pub fn current_stream(device: usize) -> Result<*mut std::ffi::c_void, String> {
    let mut stream = std::ptr::null_mut();
    // SAFETY: the shim writes `stream` or reports libtorch's exception as a non-zero status.
    match unsafe { keta_current_stream(device as std::ffi::c_int, &mut stream) } {
        0 => Ok(stream),
        _ => Err(format!(
            "libtorch has no current stream for CUDA device {device}"
        )),
    }
}

extern "C" {
    fn keta_pin_memory(
        src: *const std::ffi::c_void,
        out: *mut *mut std::ffi::c_void,
    ) -> std::ffi::c_int;
}

/// A page-locked copy of the CPU tensor `t` (`t` itself when it already is), contiguous. Needs the
/// CUDA runtime, not a GPU.
pub fn pinned(t: &tch::Tensor) -> Result<tch::Tensor, String> {
    let src = t.contiguous();
    let mut out = std::ptr::null_mut();
    // SAFETY: `src` lives across the call; on success the shim hands over a new tensor, which
    // `from_ptr` owns and frees.
    match unsafe { keta_pin_memory(src.as_ptr() as *const _, &mut out) } {
        0 => Ok(unsafe { tch::Tensor::from_ptr(out as *mut _) }),
        _ => Err(format!(
            "could not pin a {:?} {:?} tensor of {:?} in host memory",
            t.kind(),
            t.device(),
            t.size()
        )),
    }
}

/// The CPU tensor `t` on `device`, without making the host wait: to a GPU through pinned memory
/// and a non-blocking copy (from pageable memory libtorch waits for the stream to drain first, so
/// a training loop would empty the GPU's queue at every batch); elsewhere a plain copy. Should
/// pinning fail, the copy is the blocking one: slower, the same values.
pub fn upload(t: &tch::Tensor, device: tch::Device) -> tch::Tensor {
    if !device.is_cuda() || t.device() != tch::Device::Cpu {
        return t.to_device(device);
    }
    match pinned(t) {
        Ok(p) => p.to_device_(device, t.kind(), true, false),
        Err(_) => t.to_device(device),
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    #[test]
    fn uploads_to_the_cpu_unchanged() {
        let t = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        let up = super::upload(&t.transpose(0, 1), Device::Cpu);
        assert_eq!(up, t.transpose(0, 1));
    }

    #[test]
    #[ignore = "needs a GPU: run through scripts/device.sh"]
    fn names_the_first_gpu() {
        let name = super::device_name(0).unwrap();
        assert!(!name.is_empty());
    }
}
