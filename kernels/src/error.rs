//! Errors of the attention backends: each names the bad value and, where there is one, the fix.

/// What went wrong in an attention backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A radial configuration value out of range.
    #[error("radial config: {field} = {value} is invalid: {why}")]
    Config {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    /// A tensor of the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        what: &'static str,
        expected: String,
        got: Vec<i64>,
    },
    /// A tensor of the wrong element type.
    #[error("{what}: expected dtype {expected}, got {got:?}")]
    Dtype {
        what: &'static str,
        expected: &'static str,
        got: tch::Kind,
    },
    /// A tensor on the wrong device.
    #[error("{what}: expected a tensor on {expected}, got one on {got:?}")]
    Device {
        what: &'static str,
        expected: String,
        got: tch::Device,
    },
    /// A tensor whose memory is not dense row-major (call `.contiguous()` first).
    #[error("{what} must be contiguous (call .contiguous()); its strides are {strides:?}")]
    NotContiguous {
        what: &'static str,
        strides: Vec<i64>,
    },
    /// A head dimension the fused kernel has no instance for.
    #[error("head dim {0} is not supported by the fused kernel (64 or 128)")]
    HeadDim(i64),
    /// More leading condition tokens than fit in the sink block.
    #[error("{cond} condition tokens do not fit in the sink block of {block} tokens: use a larger block or fewer tokens")]
    Condition { cond: usize, block: usize },
    /// A fused kernel this device or setting cannot run (e.g. wgmma off Hopper).
    #[error("fused kernel: {0}")]
    Kernel(String),
    /// NVRTC missing or a failed compile.
    #[error("NVRTC: {0}")]
    Nvrtc(String),
    /// The CUDA driver failed (load, module, launch).
    #[error("CUDA driver: {0}")]
    Driver(String),
}

/// Result of the attention backends.
pub type Result<T> = std::result::Result<T, Error>;
