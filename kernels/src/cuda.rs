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

#[cfg(test)]
mod tests {
    #[test]
    #[ignore = "needs a GPU: run through scripts/device.sh"]
    fn names_the_first_gpu() {
        let name = super::device_name(0).unwrap();
        assert!(!name.is_empty());
    }
}
