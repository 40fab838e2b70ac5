//! Compiles the C++ shims (csrc/: CUDA graphs, the current stream, pinned memory) against libtorch's headers. Needs no GPU:
//! the CUDA runtime headers come with the torch wheel (nvidia/cu13/include).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/cuda_graph.cpp");
    println!("cargo:rerun-if-changed=csrc/cuda_stream.cpp");
    println!("cargo:rerun-if-changed=csrc/pinned_memory.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let libtorch = PathBuf::from(std::env::var("LIBTORCH").expect(
        "LIBTORCH is not set: run scripts/setup.sh (it links .libtorch and .cargo/config.toml sets LIBTORCH)",
    ));
    let libtorch = libtorch.canonicalize().unwrap_or(libtorch);
    let cuda_include = libtorch.join("../nvidia/cu13/include");
    // cuda_runtime.h wants crt/host_config.h, which the runtime wheel lacks; triton (a torch
    // dependency) bundles the crt/ headers.
    let crt_include = libtorch.join("../triton/backends/nvidia/include");
    cc::Build::new()
        .cpp(true)
        .file("csrc/cuda_graph.cpp")
        .file("csrc/cuda_stream.cpp")
        .file("csrc/pinned_memory.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .include(&cuda_include)
        .include(&crt_include)
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag("-w")
        .compile("keta_cuda_graph");
    println!(
        "cargo:rustc-link-search=native={}",
        libtorch.join("lib").display()
    );
    for lib in ["torch_cuda", "c10_cuda", "torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Inline c10 code calls the CUDA runtime; the wheel ships it only as libcudart.so.13.
    let cuda_lib = libtorch.join("../nvidia/cu13/lib");
    println!("cargo:rustc-link-search=native={}", cuda_lib.display());
    println!("cargo:rustc-link-lib=dylib:+verbatim=libcudart.so.13");
    // Keep libtorch_cuda in this crate's test binaries even where nothing names its symbols:
    // without it CUDA is "not available" to the GPU tests (environment.md).
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch_cuda");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
