// Radial block-sparse flash-attention forward for Hopper (sm_90a): the contract of radial_fwd.cu
// (one CTA per (query block, head, batch), the CSR walk, online softmax, O and the log-sum-exp),
// with both products on warpgroup MMA (wgmma) instead of mma.sync.
//
// Layout: one warpgroup (128 threads) per CTA owns 64 query rows; a query block of BLOCK rows
// takes BLOCK / 64 CTAs (blockIdx.x = query block * that + part), and warp w owns rows 16w.. of
// its part (wgmma's register A operand has mma.sync's fragment layout, so Q stays in registers as
// in radial_fwd.cu). Small CTAs let two (d 128) or three (d 64) share an SM, so one CTA's softmax
// and loads run while another's products use the tensor cores; two warpgroups sharing each K/V
// tile measured slower (kernels/notes/README.md). Key tiles of 64 keys go global -> shared with
// cp.async into a ring of STAGES buffers, loaded STAGES - 2 tiles ahead, in the
// 128-byte-swizzled canonical layout wgmma reads: a tile is D/64 regions of 64 keys x 128 bytes
// (64 dims), row r's 16-byte chunk j stored at chunk j ^ (r % 8) (the hardware swizzles absolute
// address bits, hence the 1024-byte aligned base).
//   S = Q K^T: m64n64k16, B = the K tile, K-major (dims contiguous): SBO = 1024 (8 keys), each
//              k16 step advances the start address by 32 bytes within a region.
//   O += P V:  m64nDk16, A = P from the S accumulators (as radial_fwd.cu builds it), B = the V
//              tile, MN-major (dims contiguous): LBO = one region (the next 64 dims), SBO = 1024
//              (the next 8 keys), each k16 step advances by 16 keys = 2048 bytes.
// cp.async writes through the generic proxy and wgmma reads through the async proxy: every thread
// fences (fence.proxy.async.shared::cta) after its copies land, before the barrier.
//
// Issue order (FlashAttention-3's): iteration j issues S_j = Q K_j^T, rescales O for tile j - 1,
// issues O += P_{j-1} V_{j-1}, waits for S_j, runs tile j's softmax (and packs P_j into the P
// register set that P V is not reading) while P V runs, then waits for P V.

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
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory");
}
// Keeps the compiler from moving reads or writes of `x` across an asynchronous MMA's wait.
__device__ __forceinline__ void reg_fence(float& x) { asm volatile("" : "+f"(x) :: "memory"); }

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
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
N128(wgmma_n128_bf16_t, "bf16", 1)
N128(wgmma_n128_f16_t, "f16", 1)

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

template <bool BF16, int D, int BLOCK>
__device__ __forceinline__ void radial_wgmma(
    const u16* __restrict__ q, const u16* __restrict__ k, const u16* __restrict__ v,
    u16* __restrict__ o, float* __restrict__ lse, const unsigned char* __restrict__ key_pad,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx, int H, int T,
    float scale_log2) {
    constexpr int KT = 64;                    // keys per tile
    // Ring of K/V tiles, tile t in stage t % STAGES: at d 128 three keep two CTAs' rings in shared
    // memory (fused.rs sizes the launch from the same rule).
    constexpr int STAGES = D == 128 ? 3 : 4;
    constexpr int AHEAD = STAGES - 2;         // loads run this many tiles ahead of the compute
    constexpr int THREADS = 128;              // one warpgroup: 64 query rows
    constexpr int PARTS = BLOCK / 64;         // CTAs per query block
    constexpr int REGION = KT * 128;          // bytes: 64 keys x 64 dims
    constexpr int TILE = REGION * (D / 64);   // bytes of one K or V tile
    // The launch asks for 1 KiB more than the tiles need: the base is aligned up here.
    extern __shared__ unsigned char smem_raw[];
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    unsigned char* ks = smem;                            // K[STAGES]
    unsigned char* vs = smem + STAGES * TILE;            // V[STAGES]
    float* kbias = (float*)(smem + 2 * STAGES * TILE);   // [STAGES][KT]: 0 real key, -inf padding

    const int qb = blockIdx.x / PARTS, part = blockIdx.x % PARTS, h = blockIdx.y, b = blockIdx.z;
    const size_t head = ((size_t)b * H + h) * (size_t)T;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane >> 2, tig = lane & 3;
    const int row0 = qb * BLOCK + part * 64 + warp * 16;  // warp w owns rows 16w.. of its part
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

    // O accumulators in wgmma's m64nD layout: acc[4n + i] is (row g + 8 (i >> 1), dim 8n + 2 tig +
    // (i & 1)); S the same with keys for dims.
    float acc[D / 2];
#pragma unroll
    for (int j = 0; j < D / 2; ++j) acc[j] = 0.f;
    float s[KT / 2];
    // P of the last two tiles, alternating: while P_{j-1} V_{j-1} runs it reads one set, and tile
    // j's P is packed into the other, so nothing makes ptxas wait for that product early.
    u32 pa[KT / 16][4], pb[KT / 16][4];
    float m[2] = {NEG_INF, NEG_INF};
    float l[2] = {0.f, 0.f};

    // Each thread copies LOADS 16-byte chunks of K and of V per tile: chunk c of key r0 + i * RSTEP.
    // Those keys share r % 8, so the swizzled chunk, and the offsets, are the same for every i.
    constexpr int CHUNKS = D / 8;                  // 16-byte chunks per key
    constexpr int LOADS = KT * CHUNKS / THREADS;
    constexpr int RSTEP = THREADS / CHUNKS;        // keys between a thread's copies
    static_assert(RSTEP % 8 == 0, "a thread's keys must share their swizzle row");
    const int r0 = threadIdx.x / CHUNKS, c0 = threadIdx.x % CHUNKS;
    const size_t src0 = (head + r0) * D + c0 * 8;  // + key0 * D + i * RSTEP * D
    const u32 dst0 = (c0 / 8) * REGION + r0 * 128 + (((c0 % 8) ^ (r0 % 8)) * 16);
    const u32 k_smem = smem_addr(ks), v_smem = smem_addr(vs);
    int* tile_key0 = (int*)(kbias + STAGES * KT);  // [STAGES]: first key of the tile in each stage

    const int e0 = row_ptr[qb];
    const int ntiles = (row_ptr[qb + 1] - e0) * (BLOCK / KT);
    // The column of the next tile to issue is read one issue ahead, off the critical path.
    int next_col = ntiles > 0 ? col_idx[e0] : 0;
    // Tile `tile` into its stage; past the last tile an empty group keeps the group count uniform.
    // A tile with keys past T or with padded keys also writes its key bias (read only for those).
    auto issue = [&](int tile) {
        if (tile < ntiles) {
            const int key0 = next_col * BLOCK + (tile % (BLOCK / KT)) * KT;
            if (tile + 1 < ntiles) next_col = col_idx[e0 + (tile + 1) / (BLOCK / KT)];
            const int stage = tile % STAGES;
            const u16* kp = k + src0 + (size_t)key0 * D;
            const u16* vp = v + src0 + (size_t)key0 * D;
            const u32 kd = k_smem + stage * TILE + dst0, vd = v_smem + stage * TILE + dst0;
            const bool ragged = key0 + KT > T;
            if (!ragged) {
#pragma unroll
                for (int i = 0; i < LOADS; ++i) {
                    cp_async16(kd + i * RSTEP * 128, kp + i * RSTEP * D, 16);
                    cp_async16(vd + i * RSTEP * 128, vp + i * RSTEP * D, 16);
                }
            } else {
#pragma unroll
                for (int i = 0; i < LOADS; ++i) {
                    // Keys past T are zero-filled, their source clamped to a live row.
                    const bool in = key0 + r0 + i * RSTEP < T;
                    const size_t off = in ? (size_t)i * RSTEP * D : 0;
                    cp_async16(kd + i * RSTEP * 128, kp + off, in ? 16 : 0);
                    cp_async16(vd + i * RSTEP * 128, vp + off, in ? 16 : 0);
                }
            }
            const bool masked = ragged || key_pad != nullptr;
            if (threadIdx.x == 0) tile_key0[stage] = masked ? key0 : -1;
            static_assert(THREADS >= KT, "one thread per key of the bias");
            if (masked && threadIdx.x < KT) {
                const int key = key0 + threadIdx.x;
                const bool real = key < T && (key_pad == nullptr || key_pad[(size_t)b * T + key] == 0);
                kbias[stage * KT + threadIdx.x] = real ? 0.f : NEG_INF;
            }
        }
        cp_async_commit();
    };
    // Waits until tile `tile` is in shared memory for every thread; after the barrier no thread
    // still reads the stage that tile `tile + AHEAD` will overwrite (tile - 2's, finished last
    // iteration), so that load is issued here.
    auto arrive = [&](int tile) {
        cp_async_wait<AHEAD - 1>();
        fence_proxy_async();
        __syncthreads();
        issue(tile + AHEAD);
    };
    auto scores = [&](int tile) {
        const u32 kt = smem_addr(ks + (tile % STAGES) * TILE);
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            mma_s<BF16>(s, qf[kk], sw128_desc(kt + (kk / 4) * REGION + (kk % 4) * 32, 16, 1024), kk > 0);
        }
        wgmma_commit();
    };
    auto values = [&](int tile, u32 (&p)[KT / 16][4]) {
        const u32 vt = smem_addr(vs + (tile % STAGES) * TILE);
#pragma unroll
        for (int kk = 0; kk < KT / 16; ++kk) {
            mma_o<BF16, D>(acc, p[kk], sw128_desc(vt + kk * 2048, REGION, 1024));
        }
        wgmma_commit();
    };
    // Online softmax of tile `tile`'s scores, in log2 units (m is the scaled running max): the max
    // is taken on raw scores and the exponent is one FFMA; returns the rescale of O per row.
    auto softmax = [&](int tile, float alpha[2]) {
        const int stage = tile % STAGES;
        if (tile_key0[stage] >= 0) {
            const float* bias = kbias + stage * KT;
#pragma unroll
            for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
                for (int i = 0; i < 4; ++i) s[4 * n + i] += bias[n * 8 + tig * 2 + (i & 1)];
            }
        }
        float mnew[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) mnew[i >> 1] = fmaxf(mnew[i >> 1], s[4 * n + i]);
        }
        float base[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 1));
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 2));
            mnew[r] = fmaxf(m[r], mnew[r] * scale_log2);
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
                x = fast_exp2(fmaf(x, scale_log2, -base[i >> 1]));
                l[i >> 1] += x;
            }
        }
    };
    // O *= alpha per row (the running max moved).
    auto rescale = [&](const float alpha[2]) {
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            acc[4 * j + 0] *= alpha[0]; acc[4 * j + 1] *= alpha[0];
            acc[4 * j + 2] *= alpha[1]; acc[4 * j + 3] *= alpha[1];
        }
    };
    // P = S in 16-bit: P's A fragment for 16 keys is two adjacent 8-key chunks of S.
    auto pack = [&](u32 (&p)[KT / 16][4]) {
#pragma unroll
        for (int kk = 0; kk < KT / 16; ++kk) {
            p[kk][0] = pack2<BF16>(s[8 * kk + 0], s[8 * kk + 1]);
            p[kk][1] = pack2<BF16>(s[8 * kk + 2], s[8 * kk + 3]);
            p[kk][2] = pack2<BF16>(s[8 * kk + 4], s[8 * kk + 5]);
            p[kk][3] = pack2<BF16>(s[8 * kk + 6], s[8 * kk + 7]);
        }
    };
    auto fence_s = [&] {
#pragma unroll
        for (int j = 0; j < KT / 2; ++j) reg_fence(s[j]);
    };
    auto fence_acc = [&] {
#pragma unroll
        for (int j = 0; j < D / 2; ++j) reg_fence(acc[j]);
    };

    if (ntiles > 0) {
#pragma unroll
        for (int t = 0; t < AHEAD; ++t) issue(t);
        float alpha[2];
        arrive(0);
        wgmma_fence();
        scores(0);
        wgmma_wait<0>();
        fence_s();
        softmax(0, alpha);
        pack(pa);
        // As FlashAttention-3 orders it: O's rescale for tile j - 1 sits between the two issues,
        // so after the second wait nothing but the next iteration's rescale needs it.
        auto step = [&](int tile, u32 (&last)[KT / 16][4], u32 (&next)[KT / 16][4]) {
            arrive(tile);
            wgmma_fence();
            scores(tile);
            fence_acc();
            rescale(alpha);
            fence_acc();
            wgmma_fence();
            values(tile - 1, last);
            wgmma_wait<1>();  // S of this tile; P V of the last may still run
            fence_s();
            softmax(tile, alpha);
            pack(next);
            // ptxas hoists a bare wait above the softmax (no register ties it down), which
            // serialises it with P V. A barrier whose id depends on the row sums cannot move
            // above the exponents, and ptxas keeps the wait after the barrier. The row sums are
            // +0 or more (or the canonical NaN, sign bit clear), so `dep` is always 0 and the
            // barrier counts the warpgroup's 128 threads. (A register id would reserve all 16.)
            const u32 dep = (__float_as_uint(l[0]) & __float_as_uint(l[1])) >> 31;
            asm volatile("bar.sync 1, %0;" :: "r"(128 + 32 * dep) : "memory");
            wgmma_wait<0>();
            fence_acc();
        };
        int tile = 1;
        for (; tile + 1 < ntiles; tile += 2) {
            step(tile, pa, pb);
            step(tile + 1, pb, pa);
        }
        if (tile < ntiles) step(tile++, pa, pb);
        fence_acc();
        rescale(alpha);
        fence_acc();
        wgmma_fence();
        if (ntiles % 2 == 1) values(ntiles - 1, pa); else values(ntiles - 1, pb);
        wgmma_wait<0>();
        fence_acc();
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

// Two CTAs per SM at d 128 (registers), three at d 64 (shared memory).
#define RADIAL_WGMMA_ENTRY(NAME, BF16, D, BLOCK)                                                   \
    extern "C" __global__ void __launch_bounds__(128, D == 64 ? 3 : 2)                             \
        NAME(const u16* q, const u16* k, const u16* v, u16* o, float* lse,                         \
             const unsigned char* key_pad, const int* row_ptr, const int* col_idx, int H, int T,   \
             float scale_log2) {                                                                   \
        radial_wgmma<BF16, D, BLOCK>(q, k, v, o, lse, key_pad, row_ptr, col_idx, H, T,            \
                                     scale_log2);                                                  \
    }

RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d64_b64, true, 64, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d64_b128, true, 64, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d128_b64, true, 128, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_bf16_d128_b128, true, 128, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d64_b64, false, 64, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d64_b128, false, 64, 128)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d128_b64, false, 128, 64)
RADIAL_WGMMA_ENTRY(radial_wgmma_f16_d128_b128, false, 128, 128)
