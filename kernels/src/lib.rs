//! Attention backends for the denoiser. The model calls attention only through [`Attention`], so the
//! radial block-sparse backends (block-gather and the fused CUDA kernel) plug in later without
//! touching model code. Today: the dense masked reference.

pub mod cuda;
mod dense;
pub mod graph;

pub use dense::DenseAttention;
pub use graph::CudaGraph;

use tch::Tensor;

/// Scaled dot-product attention over `[B, H, N, D]` queries, keys and values.
pub trait Attention: Send + Sync {
    /// `q [B, H, Nq, D]`, `k`/`v [B, H, Nk, D]`, `key_padding [B, Nk]` (true = padded key, ignored)
    /// -> `[B, H, Nq, D]`. Every query must have at least one real key.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, key_padding: Option<&Tensor>) -> Tensor;

    /// Short name for logs and benchmark tables.
    fn name(&self) -> &'static str;
}
