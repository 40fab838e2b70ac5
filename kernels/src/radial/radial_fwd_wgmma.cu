// Radial block-sparse flash-attention forward for Hopper (sm_90a): the same contract as
// radial_fwd.cu (one CTA per (query block, head, batch), the CSR walk, online softmax, O and the
// log-sum-exp), with both products on warpgroup MMA (wgmma) instead of mma.sync.
//
// DRAFT, NOT YET RUN ON A GPU (written in a session without device time): it compiles through
// NVRTC for compute_90a; correctness and speed are for the next session (kernels/notes/README.md).
//
// Layout: BLOCK/64 warpgroups; warpgroup w owns query rows [64w, 64w + 64) of the block, and warp
// k of it rows 16k.. (the A-fragment layout of wgmma's register operand is mma.sync's, so Q stays
// in registers as in radial_fwd.cu). Key tiles of 64 keys go global -> shared with cp.async,
// double-buffered, in the 128-byte-swizzled canonical layout wgmma reads: a tile is D/64 regions
// of 64 keys x 128 bytes (64 dims), row r's 16-byte chunk j stored at chunk j ^ (r % 8).
//   S = Q K^T: m64n64k16, B = the K tile, K-major (dims contiguous): SBO = 1024 (8 keys), the
//              k16 step advances the start address by 32 bytes within a region.
//   O += P V:  m64nDk16, A = P from the S accumulators (as radial_fwd.cu builds it), B = the V
//              tile, N-major (transposed: dims contiguous): LBO = one region (the next 64 dims),
//              SBO = 1024 (the next 8 keys), the k16 step advances by 16 keys = 2048 bytes.
// cp.async writes through the generic proxy, wgmma reads through the async proxy: every thread
// fences (fence.proxy.async.shared::cta) after its copies land, before the barrier.

typedef unsigned short u16;
typedef unsigned int u32;

#define NEG_INF __int_as_float(0xff800000)

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
    unsigned long long a;
    asm("cvta.to.shared.u64 %0, %1;" : "=l"(a) : "l"(p));
    return (u32)a;
}
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_one() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
// Keeps the compiler from moving register reads/writes of `x` across the asynchronous MMA.
__device__ __forceinline__ void reg_fence(float& x) { asm volatile("" : "+f"(x) :: "memory"); }

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// A shared-memory matrix descriptor: 128-byte swizzle, start `addr`, strides in bytes.
__device__ __forceinline__ unsigned long long sw128_desc(u32 addr, u32 lbo, u32 sbo) {
    unsigned long long d = 0;
    d |= (unsigned long long)((addr & 0x3FFFF) >> 4);
    d |= (unsigned long long)((lbo & 0x3FFFF) >> 4) << 16;
    d |= (unsigned long long)((sbo & 0x3FFFF) >> 4) << 32;
    d |= 1ull << 62;  // 128-byte swizzle
    return d;
}

// d[32] (+)= a(regs) * B(desc), m64n64k16, bf16, B K-major.
__device__ __forceinline__ void wgmma_m64n64_bf16_k(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

// d[32] (+)= a(regs) * B(desc), m64n64k16, bf16, B N-major (transposed).
__device__ __forceinline__ void wgmma_m64n64_bf16_t(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

// d[64] (+)= a(regs) * B(desc), m64n128k16, bf16, B N-major (transposed).
__device__ __forceinline__ void wgmma_m64n128_bf16_t(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

// d[32] (+)= a(regs) * B(desc), m64n64k16, f16, B K-major.
__device__ __forceinline__ void wgmma_m64n64_f16_k(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

// d[32] (+)= a(regs) * B(desc), m64n64k16, f16, B N-major (transposed).
__device__ __forceinline__ void wgmma_m64n64_f16_t(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

// d[64] (+)= a(regs) * B(desc), m64n128k16, f16, B N-major (transposed).
__device__ __forceinline__ void wgmma_m64n128_f16_t(float* d, const u32 a[4], unsigned long long desc, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
}

template <bool BF16>
__device__ __forceinline__ void mma_s(float* s, const u32 a[4], unsigned long long desc, int acc) {
    if (BF16) wgmma_m64n64_bf16_k(s, a, desc, acc); else wgmma_m64n64_f16_k(s, a, desc, acc);
}
template <bool BF16, int D>
__device__ __forceinline__ void mma_o(float* o, const u32 a[4], unsigned long long desc) {
    if (D == 64) {
        if (BF16) wgmma_m64n64_bf16_t(o, a, desc, 1); else wgmma_m64n64_f16_t(o, a, desc, 1);
    } else {
        if (BF16) wgmma_m64n128_bf16_t(o, a, desc, 1); else wgmma_m64n128_f16_t(o, a, desc, 1);
    }
}

template <bool BF16, int D, int BLOCK>
__device__ __forceinline__ void radial_wgmma(
    const u16* __restrict__ q, const u16* __restrict__ k, const u16* __restrict__ v,
    u16* __restrict__ o, float* __restrict__ lse, const unsigned char* __restrict__ key_pad,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx, int H, int T,
    float scale_log2) {
    constexpr int KT = 64;                    // keys per tile
    constexpr int THREADS = BLOCK * 2;        // BLOCK / 64 warpgroups of 128 threads
    constexpr int REGION = KT * 128;          // bytes: 64 keys x 64 dims
    constexpr int TILE = REGION * (D / 64);   // bytes of one K or V tile
    extern __shared__ __align__(1024) unsigned char smem[];
    unsigned char* ks = smem;                 // K[2 stages]
    unsigned char* vs = smem + 2 * TILE;      // V[2 stages]
    float* kbias = (float*)(smem + 4 * TILE); // [2][KT]: 0 real key, -inf padding

    const int qb = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const size_t head = ((size_t)b * H + h) * (size_t)T;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane >> 2, tig = lane & 3;
    const int row0 = qb * BLOCK + warp * 16;  // warp w of warpgroup w/4 owns rows 16w..
    const int rows[2] = {row0 + g, row0 + g + 8};

    u32 qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int row = rows[i & 1], col = kk * 16 + tig * 2 + (i >> 1) * 8;
            qf[kk][i] = row < T ? *(const u32*)(q + (head + row) * D + col) : 0u;
        }
    }

    float acc[D / 2];  // O accumulators: wgmma m64nD layout (= mma.sync's, D/8 chunks of 4)
#pragma unroll
    for (int j = 0; j < D / 2; ++j) acc[j] = 0.f;
    float m[2] = {NEG_INF, NEG_INF};
    float l[2] = {0.f, 0.f};

    constexpr int LOADS = KT * D / 8 / THREADS;  // 16-byte copies per thread per tile, K and V each
    const int e0 = row_ptr[qb];
    const int ntiles = (row_ptr[qb + 1] - e0) * (BLOCK / KT);
    auto issue = [&](int tile) {
        const int key0 = col_idx[e0 + tile / (BLOCK / KT)] * BLOCK + (tile % (BLOCK / KT)) * KT;
        const int stage = tile & 1;
#pragma unroll
        for (int i = 0; i < LOADS; ++i) {
            const int idx = threadIdx.x + i * THREADS;
            const int r = idx / (D / 8), c = idx % (D / 8);  // key r, 16-byte chunk c of its dims
            const bool in = key0 + r < T;
            const size_t off = in ? (head + key0 + r) * D + c * 8 : 0;
            const u32 at = stage * TILE + (c / 8) * REGION + r * 128 + (((c % 8) ^ (r % 8)) * 16);
            cp_async16(smem_addr(ks + at), k + off, in ? 16 : 0);
            cp_async16(smem_addr(vs + at), v + off, in ? 16 : 0);
        }
        for (int r = threadIdx.x; r < KT; r += THREADS) {
            const int key = key0 + r;
            const bool real = key < T && (key_pad == nullptr || key_pad[(size_t)b * T + key] == 0);
            kbias[stage * KT + r] = real ? 0.f : NEG_INF;
        }
        cp_async_commit();
    };
    issue(0);

    for (int tile = 0; tile < ntiles; ++tile) {
        const int stage = tile & 1;
        if (tile + 1 < ntiles) {
            issue(tile + 1);
        } else {
            cp_async_commit();
        }
        cp_async_wait_one();
        fence_proxy_async();  // this thread's copies, visible to the tensor cores' reads
        __syncthreads();
        const u32 kt = smem_addr(ks + stage * TILE);
        const u32 vt = smem_addr(vs + stage * TILE);
        const float* bias = kbias + stage * KT;

        // S = Q K^T: 64 rows (this warpgroup) x 64 keys.
        float s[KT / 2];
#pragma unroll
        for (int j = 0; j < KT / 2; ++j) s[j] = 0.f;
#pragma unroll
        for (int j = 0; j < KT / 2; ++j) reg_fence(s[j]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            const u32 at = kt + (kk / 4) * REGION + (kk % 4) * 32;
            mma_s<BF16>(s, qf[kk], sw128_desc(at, 16, 1024), 1);
        }
        wgmma_commit();
        wgmma_wait_all();
#pragma unroll
        for (int j = 0; j < KT / 2; ++j) reg_fence(s[j]);

        // Online softmax in log2 units; s[4n + i] is (row g + 8 (i >> 1), key 8n + 2 tig + (i & 1)).
        float mnew[2] = {m[0], m[1]};
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                float& x = s[4 * n + i];
                x = x * scale_log2 + bias[n * 8 + tig * 2 + (i & 1)];
                mnew[i >> 1] = fmaxf(mnew[i >> 1], x);
            }
        }
        float base[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 1));
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 2));
            base[r] = mnew[r] == NEG_INF ? 0.f : mnew[r];
            alpha[r] = fast_exp2(m[r] - base[r]);
            m[r] = mnew[r];
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                float& x = s[4 * n + i];
                x = fast_exp2(x - base[i >> 1]);
                l[i >> 1] += x;
            }
        }
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            acc[4 * j + 0] *= alpha[0]; acc[4 * j + 1] *= alpha[0];
            acc[4 * j + 2] *= alpha[1]; acc[4 * j + 3] *= alpha[1];
        }

        // O += P V, 16 keys a step: P's A fragment from two adjacent 8-key chunks of S.
        u32 p[KT / 16][4];
#pragma unroll
        for (int kk = 0; kk < KT / 16; ++kk) {
            p[kk][0] = pack2<BF16>(s[8 * kk + 0], s[8 * kk + 1]);
            p[kk][1] = pack2<BF16>(s[8 * kk + 2], s[8 * kk + 3]);
            p[kk][2] = pack2<BF16>(s[8 * kk + 4], s[8 * kk + 5]);
            p[kk][3] = pack2<BF16>(s[8 * kk + 6], s[8 * kk + 7]);
        }
#pragma unroll
        for (int j = 0; j < D / 2; ++j) reg_fence(acc[j]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < KT / 16; ++kk) {
            mma_o<BF16, D>(acc, p[kk], sw128_desc(vt + kk * 2048, REGION, 1024));
        }
        wgmma_commit();
        wgmma_wait_all();
#pragma unroll
        for (int j = 0; j < D / 2; ++j) reg_fence(acc[j]);
        __syncthreads();  // this stage is free for tile + 2
    }

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

#define RADIAL_WGMMA_ENTRY(NAME, BF16, D, BLOCK)                                                   \
    extern "C" __global__ void __launch_bounds__(BLOCK * 2, 1) NAME(                               \
        const u16* q, const u16* k, const u16* v, u16* o, float* lse, const unsigned char* key_pad, \
        const int* row_ptr, const int* col_idx, int H, int T, float scale_log2) {                   \
        radial_wgmma<BF16, D, BLOCK>(q, k, v, o, lse, key_pad, row_ptr, col_idx, H, T, scale_log2); \
    }

RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d64_b64, true, 64, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d64_b128, true, 64, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d128_b64, true, 128, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d128_b128, true, 128, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d64_b64, false, 64, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d64_b128, false, 64, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d128_b64, false, 128, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d128_b128, false, 128, 128)
