// Keep libtorch_cuda in the link even though no symbol of ours names it: without it CUDA reports
// "not available" on the GPU machine (environment.md). Only `rustc-link-arg` does this per package;
// rustflags would also reach build scripts and break their link.
include!("build_torch_cuda.rs");
