// Radial block-sparse flash-attention forward for Hopper, warp-specialized (FlashAttention-3's
// layout): the contract of radial_fwd.cu (the CSR walk, online softmax, O and the log-sum-exp) for
// blocks of 128 tokens, one CTA per (query block, head, batch), three warpgroups:
//   - the producer (warpgroup 0) gives its registers away (setmaxnreg) and one thread walks the
//     CSR row, loading each kept key block (K and V, 128 keys) with TMA into a ring of STAGES
//     stages; mbarriers say when a stage is full (TMA's byte count) and when it is empty again
//     (every consumer thread arrives once its products have read it);
//   - two consumers (warpgroups 1 and 2) own 64 query rows each, Q in registers. Per key block:
//     S = Q K^T (m64n128k16, K-major), the online softmax in registers, O += P V (m64nDk16, V
//     MN-major). Each K/V byte read from L2 serves 128 query rows.
// The consumers ping-pong (named barriers 3 and 4): one issues its products while the other runs
// its softmax, so the tensor cores and the exponential unit work at the same time. Within a
// consumer the issue order is radial_fwd_wgmma.cu's (S_j, rescale, P_{j-1} V_{j-1}, wait S_j,
// softmax, wait P V); at d128 the same dependent named barrier (1 or 2) keeps the softmax between
// the two waits (at d64 it costs more than it gains: kernels/notes/README.md, v5).
// TMA writes the 128-byte-swizzled canonical layout wgmma reads (box: 64 dims x 128 keys, one
// region of 16 KiB), so the descriptors are radial_fwd_wgmma.cu's with 128-key regions.

// Stages of the K/V ring: 192 KiB of the 227 available.
template <int D> struct WsRing { static constexpr int STAGES = D == 128 ? 3 : 6; };


// s[64] (+)= Q (16 dims) K^T: 64 rows x 128 keys.
template <bool BF16>
__device__ __forceinline__ void mma_s128(float* s, const u32 a[4], u64 desc, int scale_d) {
    if (BF16) wgmma_n128_bf16_k(s, a, desc, scale_d); else wgmma_n128_f16_k(s, a, desc, scale_d);
}

template <bool BF16, int D>
__device__ __forceinline__ void radial_ws(
    const TmaMap& kmap, const TmaMap& vmap, const u16* __restrict__ q, u16* __restrict__ o,
    float* __restrict__ lse, const unsigned char* __restrict__ key_pad,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx,
    const int* __restrict__ order, int H, int T, float scale_log2) {
    constexpr int KT = 128;                   // keys per tile: one key block
    constexpr int STAGES = WsRing<D>::STAGES;
    constexpr int REGION = KT * 128;          // bytes: 128 keys x 64 dims
    constexpr int TILE = REGION * (D / 64);   // bytes of one K or V tile
    extern __shared__ unsigned char smem_raw[];
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    const u32 ks = smem_addr(smem);                         // K[STAGES]
    const u32 vs = ks + STAGES * TILE;                      // V[STAGES]
    const u32 full = vs + STAGES * TILE;                    // mbarriers [STAGES]
    const u32 empty = full + STAGES * 8;                    // mbarriers [STAGES]

    const int qb = order[blockIdx.x], h = blockIdx.y, b = blockIdx.z;
    const int bh = b * H + h;
    const int e0 = row_ptr[qb];
    const int ntiles = row_ptr[qb + 1] - e0;
    const int wg = threadIdx.x / 128;

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(full + 8 * s, 1);
            mbar_init(empty + 8 * s, 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
        if (threadIdx.x == 0) {
            for (int tile = 0; tile < ntiles; ++tile) {
                load_kv<D, STAGES>(kmap, vmap, ks, vs, full, empty, tile, col_idx, e0 + tile, bh);
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");

    // Consumer c owns rows [64c, 64c + 64) of the block; warp w of it rows 16w.. of those.
    const int c = wg - 1;
    const int tig = threadIdx.x & 3;
    const size_t head = (size_t)bh * (size_t)T;
    int rows[2];
    warpgroup_rows(rows, qb * KT + c * 64);

    u32 qf[D / 16][4];
    load_q<D>(qf, q, head, rows, T, tig);
    float acc[D / 2];
    zero(acc);
    float s[KT / 2];
    u32 p[KT / 16][4];
    float m[2], l[2];
    fresh_stats(m, l);
    float alpha[2];

    auto fence_s = [&] { reg_fence(s); };
    auto fence_acc = [&] { reg_fence(acc); };
    auto scores = [&](int tile) {
        const u32 kt = ks + (tile % STAGES) * TILE;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            mma_s128<BF16>(s, qf[kk], sw128_desc(kt + (kk / 4) * REGION + (kk % 4) * 32, 16, 1024), kk > 0);
        }
        wgmma_commit();
    };
    auto values = [&](int tile) { issue_pv<BF16, D, KT>(acc, p, vs + (tile % STAGES) * TILE, REGION); };
    auto mask = [&](int key0) { mask_keys<KT>(s, key0, T, key_pad, b, tig); };
    auto softmax = [&] { online_softmax<KT>(s, m, l, alpha, scale_log2); };
    auto rescale = [&] { rescale_o<D>(acc, alpha); };
    auto pack = [&] { pack_p<BF16, KT>(p, s); };
    // Ping-pong: consumer c issues its products after the other's (barrier 3 + c, 256 threads:
    // its own 128 syncing, the other's 128 arriving). Consumer 1 lets consumer 0 go first and
    // skips its last arrival, so every barrier is completed exactly as often as it is waited on.
    auto my_turn = [&] {
        if (c == 0) asm volatile("bar.sync 3, 256;" ::: "memory");
        else asm volatile("bar.sync 4, 256;" ::: "memory");
    };
    auto your_turn = [&](int tile) {
        if (c == 0) asm volatile("bar.arrive 4, 256;" ::: "memory");
        else if (tile + 1 < ntiles) asm volatile("bar.arrive 3, 256;" ::: "memory");
    };
    // The softmax stays above the P V wait: a barrier on this warpgroup whose thread count
    // depends on the row sums (always 128: they are +0 or more, or the canonical NaN) cannot move
    // above the exponents, and ptxas keeps the wait after it (radial_fwd_wgmma.cu). At d64 the
    // barrier costs more than the overlap gains (H100: 1,950 against 2,040 cycles per tile), and
    // the other consumer's products keep the tensor cores busy anyway.
    auto hold_softmax = [&] {
        if (D == 64) return;
        const u32 dep = (__float_as_uint(l[0]) & __float_as_uint(l[1])) >> 31;
        if (c == 0) asm volatile("bar.sync 1, %0;" :: "r"(128 + 32 * dep) : "memory");
        else asm volatile("bar.sync 2, %0;" :: "r"(128 + 32 * dep) : "memory");
    };

    if (ntiles > 0) {
        if (c == 1) asm volatile("bar.arrive 3, 256;" ::: "memory");
        int col = col_idx[e0];
        mbar_wait(full, 0);
        my_turn();
        wgmma_fence();
        scores(0);
        your_turn(0);
        wgmma_wait<0>();
        fence_s();
        mask(col * KT);
        softmax();
        pack();
        for (int tile = 1; tile < ntiles; ++tile) {
            col = col_idx[e0 + tile];
            const int st = tile % STAGES;
            mbar_wait(full + 8 * st, (tile / STAGES) & 1);
            my_turn();
            wgmma_fence();
            scores(tile);
            fence_acc();
            rescale();
            fence_acc();
            wgmma_fence();
            values(tile - 1);
            your_turn(tile);
            wgmma_wait<1>();  // S of this tile; P V of the last may still run
            fence_s();
            mask(col * KT);
            softmax();
            hold_softmax();
            wgmma_wait<0>();
            fence_acc();
            mbar_arrive(empty + 8 * ((tile - 1) % STAGES));  // P V has read tile - 1's stage
            pack();
        }
        fence_acc();
        rescale();
        fence_acc();
        wgmma_fence();
        values(ntiles - 1);
        wgmma_wait<0>();
        fence_acc();
    }

    store_o<BF16, D>(o, lse, head, rows, T, tig, acc, m, l);
}

// One CTA per SM: three warpgroups (producer, two consumers), 192 KiB of K/V stages.
#define RADIAL_WS_ENTRY(NAME, BF16, D)                                                             \
    extern "C" __global__ void __launch_bounds__(384, 1)                                           \
        NAME(const __grid_constant__ TmaMap kmap, const __grid_constant__ TmaMap vmap,             \
             const u16* q, u16* o, float* lse, const unsigned char* key_pad, const int* row_ptr,   \
             const int* col_idx, const int* order, int H, int T, float scale_log2) {               \
        radial_ws<BF16, D>(kmap, vmap, q, o, lse, key_pad, row_ptr, col_idx, order, H, T,          \
                           scale_log2);                                                            \
    }

RADIAL_WS_ENTRY(radial_ws_bf16_d64_b128, true, 64)
RADIAL_WS_ENTRY(radial_ws_bf16_d128_b128, true, 128)
RADIAL_WS_ENTRY(radial_ws_f16_d64_b128, false, 64)
RADIAL_WS_ENTRY(radial_ws_f16_d128_b128, false, 128)

