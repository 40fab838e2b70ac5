//! The CUDA driver through cudarc, loaded at run time: CPU-only machines build and run keta and only
//! fail (with an error, never a crash) when they ask for a GPU.

/// Name of CUDA device `ordinal` (e.g. "NVIDIA H100 80GB HBM3").
pub fn device_name(ordinal: usize) -> Result<String, String> {
    // cudarc panics when libcuda.so cannot be loaded; turn that into an error for CPU machines.
    let attempt = std::panic::catch_unwind(|| {
        let ctx = cudarc::driver::CudaContext::new(ordinal).map_err(|e| e.to_string())?;
        ctx.name().map_err(|e| e.to_string())
    });
    attempt.unwrap_or_else(|_| Err("the CUDA driver (libcuda.so) could not be loaded".to_string()))
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

#[cfg(test)]
mod tests {
    #[test]
    #[ignore = "needs a GPU: run through scripts/device.sh"]
    fn names_the_first_gpu() {
        let name = super::device_name(0).unwrap();
        assert!(!name.is_empty());
    }
}
