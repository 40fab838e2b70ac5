"""Can one SM run warpgroup MMAs and exponentials at the same time?

A probe for kernels/notes/README.md (v9). One CTA per SM, two warpgroups:
  - warpgroup 0 issues S-shaped products back to back (wgmma m64n128k16, both operands in shared
    memory, 4 per "tile" as in radial_fwd_pws.cu's S = Q K^T at head dim 64), or idles;
  - warpgroup 1 runs exponentials (MUFU.EX2, 8 independent chains), or FFMAs, or idles.
Each warpgroup's time is read with clock64. If the two pipes overlap, "both" takes the longer of
the two alone; if they serialise, the sum.

Usage (on the GPU machine, torch installed): python3 kernels/notes/overlap_probe.py
It compiles the kernels' own wgmma helpers (kernels/src/radial/*.cu) with NVRTC from the torch
wheel's nvidia libraries and launches through the CUDA driver with ctypes.
"""

import ctypes
import glob
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src", "radial")

PROBE = r"""
extern "C" __global__ void __launch_bounds__(256, 1)
probe(int mode, int tiles, int work, unsigned long long* out, float* sink) {
    extern __shared__ unsigned char smem_raw[];
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    const u32 qs = smem_addr(smem), ks = qs + 8192;
    const int wg = threadIdx.x / 128;
    __syncthreads();
    const long long t0 = clock64();
    if (wg == 0 && (mode & 1)) {
        float s[64];
        zero(s);
        for (int t = 0; t < tiles; ++t) {
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                const u64 a = sw128_desc(qs + kk * 32, 16, 1024);
                const u64 b = sw128_desc(ks + kk * 32, 16, 1024);
                wgmma_n128_bf16_ss(s, a, b, 1);
            }
            wgmma_commit();
            wgmma_wait<0>();
            reg_fence(s);
        }
        float acc = 0.f;
#pragma unroll
        for (int j = 0; j < 64; ++j) acc += s[j];
        sink[blockIdx.x * 256 + threadIdx.x] = acc;
    }
    if (wg == 1 && (mode & 6)) {
        float x[8];
#pragma unroll
        for (int c = 0; c < 8; ++c) x[c] = -0.001f * (threadIdx.x + c);
        for (int i = 0; i < work; ++i) {
#pragma unroll
            for (int c = 0; c < 8; ++c) {
                if (mode & 2) x[c] = fast_exp2(x[c]) - 1.0f;  // MUFU.EX2 + FADD, stays near 0
                else x[c] = fmaf(x[c], 0.999f, 0.0001f);     // FFMA
            }
        }
        float acc = 0.f;
#pragma unroll
        for (int c = 0; c < 8; ++c) acc += x[c];
        sink[blockIdx.x * 256 + threadIdx.x] = acc;
    }
    const long long t1 = clock64();
    if (threadIdx.x % 128 == 0) out[blockIdx.x * 2 + wg] = (unsigned long long)(t1 - t0);
}
"""


def nvrtc_lib():
    for root in sys.path:
        hits = glob.glob(os.path.join(root, "nvidia", "cu*", "lib", "libnvrtc.so*"))
        hits = [h for h in hits if "builtins" not in h and "alt" not in h]
        if hits:
            return ctypes.CDLL(hits[0])
    raise SystemExit("libnvrtc not found in the torch wheel's nvidia packages")


def compile_cubin(src):
    n = nvrtc_lib()
    prog = ctypes.c_void_p()
    assert n.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b"probe.cu", 0, None, None) == 0
    opts = [b"--gpu-architecture=sm_90a", b"--std=c++17"]
    rc = n.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    n.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    n.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        raise SystemExit(log.value.decode())
    n.nvrtcGetCUBINSize(prog, ctypes.byref(size))
    cubin = ctypes.create_string_buffer(size.value)
    n.nvrtcGetCUBIN(prog, cubin)
    return cubin.raw


def main():
    parts = ["radial_common.cu", "wgmma_common.cu"]
    src = "".join(open(os.path.join(SRC, p)).read() for p in parts) + PROBE
    cubin = compile_cubin(src)
    torch.zeros(1, device="cuda")  # makes the primary context current
    cu = ctypes.CDLL("libcuda.so.1")
    mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
    assert cu.cuModuleLoadData(ctypes.byref(mod), cubin) == 0
    assert cu.cuModuleGetFunction(ctypes.byref(fn), mod, b"probe") == 0
    smem = 1024 + 8192 + 16384
    assert cu.cuFuncSetAttribute(fn, 8, smem) == 0  # MAX_DYNAMIC_SHARED_SIZE_BYTES
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    out = torch.zeros(sms * 2, dtype=torch.int64, device="cuda")
    sink = torch.zeros(sms * 256, dtype=torch.float32, device="cuda")
    # One tile of S products (4 x m64n128k16) is 256 tensor cycles of an SM; one work step is 8
    # MUFU.EX2 per thread, 8 x 8 = 64 cycles of the SM's exponential unit per warpgroup.
    tiles, work = 4000, 16000
    names = {1: "mma", 2: "exp", 4: "ffma", 3: "mma+exp", 5: "mma+ffma"}
    results = {}
    for rep in range(3):
        for mode, name in names.items():
            args = [ctypes.c_int(mode), ctypes.c_int(tiles), ctypes.c_int(work),
                    ctypes.c_uint64(out.data_ptr()), ctypes.c_uint64(sink.data_ptr())]
            ptrs = (ctypes.c_void_p * len(args))(*[ctypes.cast(ctypes.byref(a), ctypes.c_void_p) for a in args])
            assert cu.cuLaunchKernel(fn, sms, 1, 1, 256, 1, 1, smem, None, ptrs, None) == 0
            torch.cuda.synchronize()
            cyc = out.view(sms, 2).float().median(dim=0).values.tolist()
            results.setdefault(name, []).append({"mma_wg_cycles": cyc[0], "exp_wg_cycles": cyc[1]})
    for name, runs in results.items():
        print(json.dumps({"probe": name, "tiles": tiles, "work": work,
                          "gpu": torch.cuda.get_device_name(0), "runs": runs}))


if __name__ == "__main__":
    main()
