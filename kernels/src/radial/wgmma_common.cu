// Helpers shared by the Hopper radial kernels (radial_fwd_wgmma.cu, radial_fwd_ws.cu,
// radial_fwd_pws.cu), on top of radial_common.cu: thread rows, fences, warpgroup MMA wrappers, shared-memory matrix descriptors, and the
// online softmax, rescale and P packing in wgmma's layouts. fused.rs prepends both files.

__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory");
}
// The two query rows this thread holds when its warpgroup owns the 64 rows from `first`: warp w of
// the group rows 16w.., and within the warp rows g and g + 8 (g = lane / 4), as in wgmma's m64
// accumulator layout.
__device__ __forceinline__ void warpgroup_rows(int rows[2], int first) {
    const int warp = (threadIdx.x / 32) % 4, g = (threadIdx.x % 32) >> 2;
    rows[0] = first + warp * 16 + g;
    rows[1] = rows[0] + 8;
}

// A new output row's state: O = 0, running max -inf, running sums 0.
template <int N> __device__ __forceinline__ void zero(float (&x)[N]) {
#pragma unroll
    for (int j = 0; j < N; ++j) x[j] = 0.f;
}
__device__ __forceinline__ void fresh_stats(float m[2], float l[2]) {
    m[0] = m[1] = NEG_INF;
    l[0] = l[1] = 0.f;
}

// Keeps the compiler from moving reads or writes of `x` across an asynchronous MMA's wait.
__device__ __forceinline__ void reg_fence(float& x) { asm volatile("" : "+f"(x) :: "memory"); }
template <int N> __device__ __forceinline__ void reg_fence(float (&x)[N]) {
#pragma unroll
    for (int j = 0; j < N; ++j) reg_fence(x[j]);
}

// A shared-memory matrix descriptor: 128-byte swizzle, start `addr`, offsets in bytes.
__device__ __forceinline__ u64 sw128_desc(u32 addr, u32 lbo, u32 sbo) {
    u64 d = 0;
    d |= (u64)((addr & 0x3FFFF) >> 4);
    d |= (u64)((lbo & 0x3FFFF) >> 4) << 16;
    d |= (u64)((sbo & 0x3FFFF) >> 4) << 32;
    d |= 1ull << 62;  // 128-byte swizzle
    return d;
}

// d (+)= a (registers, 64x16) * B (shared memory, 16xN): `scale_d` 0 overwrites d. TRANS 0: B is
// K-major, 1: MN-major. The operand lists are long because wgmma names every accumulator register.
#define ACC32 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), \
    "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), \
    "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
    "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
    "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define ACC64 ACC32, \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), \
    "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), \
    "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), \
    "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), \
    "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WGMMA(NAME, N, TYPE, TRANS, REGS, ACC, A0, A1, A2, A3, DESC, SCALE)                      \
    __device__ __forceinline__ void NAME(float* d, const u32 a[4], u64 desc, int scale_d) {    \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" SCALE ", 0;\n"                          \
                     "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TYPE "." TYPE " {" REGS  \
                     "}, {%" A0 ", %" A1 ", %" A2 ", %" A3 "}, %" DESC ", p, 1, 1, " #TRANS ";\n}\n" \
                     : ACC                                                                      \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));    \
    }
#define REGS32 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, \
    %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define REGS64 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, \
    %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, \
    %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, \
    %56, %57, %58, %59, %60, %61, %62, %63"
#define N64(NAME, TYPE, TRANS) WGMMA(NAME, 64, TYPE, TRANS, REGS32, ACC32, "32", "33", "34", "35", "36", "37")
#define N128(NAME, TYPE, TRANS) WGMMA(NAME, 128, TYPE, TRANS, REGS64, ACC64, "64", "65", "66", "67", "68", "69")
N64(wgmma_n64_bf16_k, "bf16", 0)
N64(wgmma_n64_f16_k, "f16", 0)
N64(wgmma_n64_bf16_t, "bf16", 1)
N64(wgmma_n64_f16_t, "f16", 1)
N128(wgmma_n128_bf16_k, "bf16", 0)
N128(wgmma_n128_f16_k, "f16", 0)
N128(wgmma_n128_bf16_t, "bf16", 1)
N128(wgmma_n128_f16_t, "f16", 1)
// d (+)= A (shared memory, 64x16, K-major) * B (shared memory, 16x128, K-major): S = Q K^T with Q
// read by descriptor, for kernels that keep Q in shared memory (radial_fwd_pws.cu).
#define WGMMA_SS(NAME, TYPE)                                                                       \
    __device__ __forceinline__ void NAME(float* d, u64 adesc, u64 bdesc, int scale_d) {           \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                 \
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " {" REGS64   \
                     "}, %64, %65, p, 1, 1, 0, 0;\n}\n"                                          \
                     : ACC64                                                                    \
                     : "l"(adesc), "l"(bdesc), "r"(scale_d));                                   \
    }
WGMMA_SS(wgmma_n128_bf16_ss, "bf16")
WGMMA_SS(wgmma_n128_f16_ss, "f16")

// s[32] (+)= Q (16 dims) K^T: 64 rows x 64 keys.
template <bool BF16>
__device__ __forceinline__ void mma_s(float* s, const u32 a[4], u64 desc, int scale_d) {
    if (BF16) wgmma_n64_bf16_k(s, a, desc, scale_d); else wgmma_n64_f16_k(s, a, desc, scale_d);
}
// o[D/2] += P (16 keys) V: 64 rows x D dims.
template <bool BF16, int D>
__device__ __forceinline__ void mma_o(float* o, const u32 a[4], u64 desc) {
    if (D == 64) {
        if (BF16) wgmma_n64_bf16_t(o, a, desc, 1); else wgmma_n64_f16_t(o, a, desc, 1);
    } else {
        if (BF16) wgmma_n128_bf16_t(o, a, desc, 1); else wgmma_n128_f16_t(o, a, desc, 1);
    }
}

// O (+)= P V over one V tile of KT keys at shared address `vt` (128-byte swizzled rows of 128
// bytes, 64-dim regions `region` bytes apart), issued and committed, not waited for.
template <bool BF16, int D, int KT>
__device__ __forceinline__ void issue_pv(float* acc, const u32 (*p)[4], u32 vt, u32 region) {
#pragma unroll
    for (int kk = 0; kk < KT / 16; ++kk) {
        mma_o<BF16, D>(acc, p[kk], sw128_desc(vt + kk * 2048, region, 1024));
    }
    wgmma_commit();
}

// The online softmax of one thread's two rows (g and g + 8 of its warp's 16) over a tile of N keys
// in wgmma's accumulator layout (s[4n + i]: row g + 8 (i >> 1), key 8n + 2 tig + (i & 1)), in log2
// units: m is the scaled running max (the max is taken on raw scores, the exponent is one FFMA),
// l the thread's partial row sums (the quad's four are added in store_o), alpha the factor the
// output rows must be rescaled by. Masked scores are -inf on entry.
// LAZY (FA4's conditional rescaling): m follows a row's max only when the tile's exceeds it by
// more than RESCALE_SLACK (log2 units), so P = 2^(x - m) <= 256 (in range for the fp32 sums and
// 16-bit P, at the same relative precision) and alpha is exactly 1 on most tiles after a row's
// first, which rescale_o<D, true> then skips.
constexpr float RESCALE_SLACK = 8.f;

template <int N, bool LAZY = false>
__device__ __forceinline__ void online_softmax(float* s, float m[2], float l[2], float alpha[2],
                                               float scale_log2) {
    float mnew[2] = {NEG_INF, NEG_INF};
#pragma unroll
    for (int n = 0; n < N / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) mnew[i >> 1] = fmaxf(mnew[i >> 1], s[4 * n + i]);
    }
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 1));
        mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 2));
        mnew[r] *= scale_log2;
        if (LAZY) mnew[r] = mnew[r] > m[r] + RESCALE_SLACK ? mnew[r] : m[r];
        else mnew[r] = fmaxf(m[r], mnew[r]);
        base[r] = mnew[r] == NEG_INF ? 0.f : mnew[r];
        alpha[r] = LAZY && mnew[r] == m[r] ? 1.f : fast_exp2(m[r] - base[r]);
        m[r] = mnew[r];
    }
    // The tile's sums start from zero and join l once: l *= alpha before the adds would put the
    // alpha exponent at the head of each row's chain of 64 dependent adds (H100: 5% of the d64
    // warp-specialized kernel's time per tile).
    float sum[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < N / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            float& x = s[4 * n + i];
            x = fast_exp2(fmaf(x, scale_log2, -base[i >> 1]));
            sum[i >> 1] += x;
        }
    }
    l[0] = fmaf(l[0], alpha[0], sum[0]);
    l[1] = fmaf(l[1], alpha[1], sum[1]);
}

// Scores s (wgmma's accumulator layout, N keys from key0) of keys past T or padded (key_pad[b, key]
// != 0) become -inf; only tiles that have such keys pay for the check. The thread's N / 4 keys
// (key 8n + 2 tig + j is bit 2n + j) are tested in a rolled loop and applied with selects: the
// unrolled version (a load and two branches per key) was half of the persistent kernel's code
// (its main loop: 1,125 instructions, 623 now; level in time on its own, kernels/notes v8).
template <int N>
__device__ __forceinline__ void mask_keys(float* s, int key0, int T, const unsigned char* key_pad,
                                          int b, int tig) {
    static_assert(N / 4 <= 32, "one bit per key of the thread in a 32-bit word");
    if (key0 + N <= T && key_pad == nullptr) return;
    u32 real = 0;
#pragma unroll 1
    for (int k = 0; k < N / 4; ++k) {
        const int key = key0 + (k >> 1) * 8 + tig * 2 + (k & 1);
        const bool ok = key < T && (key_pad == nullptr || key_pad[(size_t)b * T + key] == 0);
        real |= (u32)ok << k;
    }
#pragma unroll
    for (int n = 0; n < N / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            if (!((real >> (2 * n + (i & 1))) & 1u)) s[4 * n + i] = NEG_INF;
        }
    }
}

// O *= alpha per row (the running max moved); O in wgmma's m64nD accumulator layout. LAZY skips
// a warp whose alphas are all 1 (online_softmax<N, true>): 3-6% of the wgmma kernel's time at
// d128 on an H200 (0-2.5% at d64), but the same branch made the persistent kernel 6-14% slower
// (kernels/notes/README.md, v8).
template <int D, bool LAZY = false>
__device__ __forceinline__ void rescale_o(float* acc, const float alpha[2]) {
    if (LAZY && __all_sync(0xffffffffu, alpha[0] == 1.f && alpha[1] == 1.f)) return;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
        acc[4 * j + 0] *= alpha[0]; acc[4 * j + 1] *= alpha[0];
        acc[4 * j + 2] *= alpha[1]; acc[4 * j + 3] *= alpha[1];
    }
}

// P = S in 16-bit as wgmma's A operand: the fragment for 16 keys is two adjacent 8-key chunks of S.
template <bool BF16, int N>
__device__ __forceinline__ void pack_p(u32 (*p)[4], const float* s) {
#pragma unroll
    for (int kk = 0; kk < N / 16; ++kk) {
        p[kk][0] = pack2<BF16>(s[8 * kk + 0], s[8 * kk + 1]);
        p[kk][1] = pack2<BF16>(s[8 * kk + 2], s[8 * kk + 3]);
        p[kk][2] = pack2<BF16>(s[8 * kk + 4], s[8 * kk + 5]);
        p[kk][3] = pack2<BF16>(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

