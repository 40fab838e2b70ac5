// Helpers shared by every radial forward kernel (radial_fwd.cu, radial_fwd_wgmma.cu,
// radial_fwd_ws.cu), for any GPU from sm_80: 16-bit packing, shared-memory addresses, cp.async,
// exp2, and the Q-fragment load and output store of mma.sync's m16n8k16 layout (wgmma's register
// operand and accumulator layouts are the same per 16 rows). fused.rs prepends this file to each
// kernel's source (NVRTC has no headers); bf16/fp16 travel as raw 16-bit words.

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define NEG_INF __int_as_float(0xff800000)

// Packs two floats into one register of two 16-bit values, `lo` in the low half.
template <bool BF16> __device__ __forceinline__ u32 pack2(float lo, float hi);
template <> __device__ __forceinline__ u32 pack2<true>(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
template <> __device__ __forceinline__ u32 pack2<false>(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

__device__ __forceinline__ u32 smem_addr(const void* p) {
    u64 a;
    asm("cvta.to.shared.u64 %0, %1;" : "=l"(a) : "l"(p));
    return (u32)a;
}
// 16 bytes global -> shared; `bytes` 0 writes zeros (keys past the end).
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
}

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// This thread's Q fragments, the A operand of mma.sync m16n8k16 and of wgmma from registers (one
// 16-dim slice per kk); rows past T read as zeros.
template <int D>
__device__ __forceinline__ void load_q(u32 (*qf)[4], const u16* q, size_t head, const int rows[2],
                                       int T, int tig) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int row = rows[i & 1], col = kk * 16 + tig * 2 + (i >> 1) * 8;
            qf[kk][i] = row < T ? *(const u32*)(q + (head + row) * D + col) : 0u;
        }
    }
}

// O / l and the log-sum-exp (natural log) of this thread's two rows (acc in the m16n8 / m64nD
// accumulator layout, acc[4j + i] for dims 8j..), rows past T skipped.
template <bool BF16, int D>
__device__ __forceinline__ void store_o(u16* o, float* lse, size_t head, const int rows[2], int T,
                                        int tig, const float* acc, const float m[2], float l[2]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float inv[2] = {l[0] > 0.f ? 1.f / l[0] : 0.f, l[1] > 0.f ? 1.f / l[1] : 0.f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        if (rows[r] >= T) continue;
        u16* orow = o + (head + rows[r]) * D;
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            *(u32*)(orow + j * 8 + tig * 2) =
                pack2<BF16>(acc[4 * j + 2 * r] * inv[r], acc[4 * j + 2 * r + 1] * inv[r]);
        }
        if (tig == 0) {
            lse[head + rows[r]] = l[r] > 0.f ? (m[r] + __log2f(l[r])) * 0.69314718056f : NEG_INF;
        }
    }
}
