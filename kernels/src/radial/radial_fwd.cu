// Radial block-sparse flash-attention forward (design radial-attention.md, section 3.3).
// One CTA per (query block, head, batch); BLOCK/16 warps, each owning 16 query rows. The CTA walks
// its row of the CSR block layout, loading each kept key block in tiles of 64 keys into shared
// memory, and keeps an online softmax (running max and sum, fp32) with fp32 output accumulators.
// Both products use tensor cores through mma.sync.m16n8k16 (bf16 or fp16 in, fp32 accumulate), with
// B fragments read by ldmatrix (.trans for V). Key tiles are double-buffered: cp.async copies tile
// i + 1 into shared memory while tile i is computed.
// Compiled at run time by NVRTC after radial_common.cu (fused.rs).

struct __align__(16) Vec16 { u32 x, y, z, w; };

// c[16x8] += a[16x16] * b[16x8]; fragments as in the PTX ISA's m16n8k16 layout.
template <bool BF16> __device__ __forceinline__ void mma(float c[4], const u32 a[4], u32 b0, u32 b1);
template <> __device__ __forceinline__ void mma<true>(float c[4], const u32 a[4], u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma<false>(float c[4], const u32 a[4], u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 16-bit matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldsm_x4(u32 r[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(u32 r[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

template <bool BF16, int D, int BLOCK>
__device__ __forceinline__ void radial_fwd(
    const u16* __restrict__ q,            // [B, H, T, D]
    const u16* __restrict__ k,            // [B, H, T, D]
    const u16* __restrict__ v,            // [B, H, T, D]
    u16* __restrict__ o,                  // [B, H, T, D]
    float* __restrict__ lse,              // [B, H, T]  natural log of the softmax denominator
    const unsigned char* __restrict__ key_pad,  // [B, T] 1 = padded key, or null
    const int* __restrict__ row_ptr,      // [nb + 1]
    const int* __restrict__ col_idx,      // [nnz]
    const int* __restrict__ order,        // [nb] query blocks, longest row first
    int H, int T, float scale_log2) {
    constexpr int KT = 64;          // keys per shared-memory tile
    constexpr int THREADS = BLOCK / 16 * 32;
    constexpr int KS = D + 8;       // tile row stride (16-bit words): the 8 rows an ldmatrix reads
                                    // start 4 banks apart, so they hit 32 distinct banks
    constexpr int TILE = KT * KS;   // one K or V tile
    // Dynamic shared memory: K[2][KT][KS], V[2][KT][KS] (row-major, as in global), kbias[2][KT].
    extern __shared__ __align__(16) unsigned char smem[];
    u16* ks = (u16*)smem;
    u16* vs = ks + 2 * TILE;
    float* kbias = (float*)(vs + 2 * TILE);  // 0 for a real key, -inf for padding

    const int qb = order[blockIdx.x], h = blockIdx.y, b = blockIdx.z;
    const size_t head = ((size_t)b * H + h) * (size_t)T;  // first row of this (b, h)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane >> 2, tig = lane & 3;
    const int row0 = qb * BLOCK + warp * 16;
    const int rows[2] = {row0 + g, row0 + g + 8};

    // Q fragments for this warp's 16 rows, kept in registers for the whole row of blocks.
    u32 qf[D / 16][4];
    load_q<D>(qf, q, head, rows, T, tig);

    float acc[D / 8][4];
#pragma unroll
    for (int j = 0; j < D / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    float m[2] = {NEG_INF, NEG_INF};  // running max, log2 units
    float l[2] = {0.f, 0.f};          // running sum (this thread's columns; quad-reduced at the end)

    // The row's key tiles: each kept block in BLOCK / KT tiles of KT keys. Tiles past T (the last
    // block's tail) load zeros and are masked.
    constexpr int SUBS = BLOCK / KT;
    constexpr int LOADS = KT * D / 8 / THREADS;  // 16-byte copies per thread per tile, K and V each
    const int e0 = row_ptr[qb];
    const int ntiles = (row_ptr[qb + 1] - e0) * SUBS;
    auto issue = [&](int tile) {
        const int key0 = col_idx[e0 + tile / SUBS] * BLOCK + (tile % SUBS) * KT;
        const int stage = tile & 1;
#pragma unroll
        for (int i = 0; i < LOADS; ++i) {
            const int idx = threadIdx.x + i * THREADS;
            const int r = idx / (D / 8), c = (idx % (D / 8)) * 8;  // consecutive threads along a row
            const bool in = key0 + r < T;
            const size_t off = in ? (head + key0 + r) * D + c : 0;
            cp_async16(smem_addr(ks + stage * TILE + r * KS + c), k + off, in ? 16 : 0);
            cp_async16(smem_addr(vs + stage * TILE + r * KS + c), v + off, in ? 16 : 0);
        }
        for (int r = threadIdx.x; r < KT; r += THREADS) {
            const int key = key0 + r;
            const bool real = key < T && (key_pad == nullptr || key_pad[(size_t)b * T + key] == 0);
            kbias[stage * KT + r] = real ? 0.f : NEG_INF;
        }
        cp_async_commit();
    };
    issue(0);  // every row keeps the sink block: ntiles >= 1

    for (int tile = 0; tile < ntiles; ++tile) {
        const int stage = tile & 1;
        // Tile + 1 goes into the other stage, last read in the previous iteration (barrier below).
        if (tile + 1 < ntiles) {
            issue(tile + 1);
        } else {
            cp_async_commit();  // an empty group keeps wait_group 1 meaning "tile has landed"
        }
        cp_async_wait<1>();
        __syncthreads();  // every thread's copies (and kbias stores) of this tile are visible
        const u16* kt = ks + stage * TILE;
        const u16* vt = vs + stage * TILE;
        const float* bias = kbias + stage * KT;

        // S = Q K^T for 16 rows x KT keys.
        float s[KT / 8][4];
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
        // K rows are the B operand's columns: matrices (keys n*8.., dims 32*kk2 + 0/8/16/24).
        const int lrow = lane & 7, lmat = lane >> 3;
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int kk2 = 0; kk2 < D / 32; ++kk2) {
                u32 bk[4];
                ldsm_x4(bk, smem_addr(kt + (n * 8 + lrow) * KS + kk2 * 32 + lmat * 8));
                mma<BF16>(s[n], qf[2 * kk2], bk[0], bk[1]);
                mma<BF16>(s[n], qf[2 * kk2 + 1], bk[2], bk[3]);
            }
        }

        // Online softmax in log2 units.
        float mnew[2] = {m[0], m[1]};
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                s[n][i] = s[n][i] * scale_log2 + bias[n * 8 + tig * 2 + (i & 1)];
                mnew[i >> 1] = fmaxf(mnew[i >> 1], s[n][i]);
            }
        }
        float base[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 1));
            mnew[r] = fmaxf(mnew[r], __shfl_xor_sync(0xffffffffu, mnew[r], 2));
            base[r] = mnew[r] == NEG_INF ? 0.f : mnew[r];  // a row with no real key yet
            alpha[r] = fast_exp2(m[r] - base[r]);
            m[r] = mnew[r];
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int n = 0; n < KT / 8; ++n) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                s[n][i] = fast_exp2(s[n][i] - base[i >> 1]);
                l[i >> 1] += s[n][i];
            }
        }
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            acc[j][0] *= alpha[0]; acc[j][1] *= alpha[0];
            acc[j][2] *= alpha[1]; acc[j][3] *= alpha[1];
        }

        // O += P V: the S accumulators of two adjacent 8-key tiles form one A fragment.
#pragma unroll
        for (int kk = 0; kk < KT / 16; ++kk) {
            const u32 a[4] = {pack2<BF16>(s[2 * kk][0], s[2 * kk][1]),
                              pack2<BF16>(s[2 * kk][2], s[2 * kk][3]),
                              pack2<BF16>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack2<BF16>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            // V^T fragments: matrices (keys 16*kk + 0/8, dims 16*j2 + 0/8), transposed on load.
#pragma unroll
            for (int j2 = 0; j2 < D / 16; ++j2) {
                u32 bv[4];
                ldsm_x4_trans(bv, smem_addr(vt + (kk * 16 + (lmat & 1) * 8 + lrow) * KS + j2 * 16 + (lmat >> 1) * 8));
                mma<BF16>(acc[2 * j2], a, bv[0], bv[1]);
                mma<BF16>(acc[2 * j2 + 1], a, bv[2], bv[3]);
            }
        }
        __syncthreads();  // this stage is free for tile + 2
    }

    // Finish: full row sums across the quad, normalise, write O and the log-sum-exp.
    store_o<BF16, D>(o, lse, head, rows, T, tig, &acc[0][0], m, l);
}

#define RADIAL_ENTRY(NAME, BF16, D, BLOCK)                                                        \
    extern "C" __global__ void __launch_bounds__(BLOCK / 16 * 32, D == 64 ? 2 : 1) NAME(                             \
        const u16* q, const u16* k, const u16* v, u16* o, float* lse, const unsigned char* key_pad, \
        const int* row_ptr, const int* col_idx, const int* order, int H, int T,                   \
        float scale_log2) {                                                                       \
        radial_fwd<BF16, D, BLOCK>(q, k, v, o, lse, key_pad, row_ptr, col_idx, order, H, T,         \
                                   scale_log2);                                                  \
    }

RADIAL_ENTRY(radial_fwd_bf16_d64_b64, true, 64, 64)
RADIAL_ENTRY(radial_fwd_bf16_d64_b128, true, 64, 128)
RADIAL_ENTRY(radial_fwd_bf16_d128_b64, true, 128, 64)
RADIAL_ENTRY(radial_fwd_bf16_d128_b128, true, 128, 128)
RADIAL_ENTRY(radial_fwd_f16_d64_b64, false, 64, 64)
RADIAL_ENTRY(radial_fwd_f16_d64_b128, false, 64, 128)
RADIAL_ENTRY(radial_fwd_f16_d128_b64, false, 128, 64)
RADIAL_ENTRY(radial_fwd_f16_d128_b128, false, 128, 128)
