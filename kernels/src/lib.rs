//! Attention backends for the denoiser. The model calls attention only through [`Attention`], so
//! backends are interchangeable: the dense masked reference ([`DenseAttention`]) and radial
//! block-sparse attention ([`RadialAttention`]: block-gather on any device, a fused CUDA kernel
//! compiled at run time with NVRTC).

pub mod cuda;
mod dense;
pub mod error;
pub mod graph;
pub mod nvrtc;
pub mod radial;

pub use dense::DenseAttention;
pub use error::{Error, Result};
pub use graph::CudaGraph;
pub use radial::{RadialAttention, RadialBackend, RadialConfig};

use tch::Tensor;

/// Scaled dot-product attention over `[B, H, N, D]` queries, keys and values.
pub trait Attention: Send + Sync {
    /// `q [B, H, Nq, D]`, `k`/`v [B, H, Nk, D]`, `key_padding [B, Nk]` (true = padded key, ignored)
    /// -> `[B, H, Nq, D]`. Every query must have at least one real key.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, key_padding: Option<&Tensor>) -> Tensor;

    /// Short name for logs and benchmark tables.
    fn name(&self) -> &'static str;

    /// Whether layer `layer` (0-based) over `tokens` tokens at sampling step `step` (0 = the
    /// noisiest) of `steps` should attend densely instead (radial attention's schedule: short
    /// sequences, the first layers and the first, noisiest steps see everything). Training asks
    /// with `step = steps = 0`. Dense backends: always false (they are dense already).
    fn dense_at(&self, _layer: usize, _tokens: usize, _step: usize, _steps: usize) -> bool {
        false
    }
}
