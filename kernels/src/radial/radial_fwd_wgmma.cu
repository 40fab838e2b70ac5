// Radial block-sparse flash-attention forward for Hopper (sm_90a): the contract of radial_fwd.cu
// (the CSR walk, online softmax, O and the log-sum-exp), with both products on warpgroup MMA
// (wgmma) instead of mma.sync. The default below 4,096 tokens and for blocks of 64; longer inputs
// in blocks of 128 run radial_fwd_ws.cu, whose fixed cost is higher. fused.rs prepends
// wgmma_common.cu.
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

template <bool BF16, int D, int BLOCK>
__device__ __forceinline__ void radial_wgmma(
    const u16* __restrict__ q, const u16* __restrict__ k, const u16* __restrict__ v,
    u16* __restrict__ o, float* __restrict__ lse, const unsigned char* __restrict__ key_pad,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx,
    const int* __restrict__ order, int H, int T, float scale_log2) {
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

    const int qb = order[blockIdx.x / PARTS], part = blockIdx.x % PARTS;
    const int h = blockIdx.y, b = blockIdx.z;
    const size_t head = ((size_t)b * H + h) * (size_t)T;
    const int tig = threadIdx.x & 3;
    int rows[2];
    warpgroup_rows(rows, qb * BLOCK + part * 64);

    u32 qf[D / 16][4];
    load_q<D>(qf, q, head, rows, T, tig);

    // O accumulators in wgmma's m64nD layout: acc[4n + i] is (row g + 8 (i >> 1), dim 8n + 2 tig +
    // (i & 1)); S the same with keys for dims.
    float acc[D / 2];
    zero(acc);
    float s[KT / 2];
    // P of the last two tiles, alternating: while P_{j-1} V_{j-1} runs it reads one set, and tile
    // j's P is packed into the other, so nothing makes ptxas wait for that product early.
    u32 pa[KT / 16][4], pb[KT / 16][4];
    float m[2], l[2];
    fresh_stats(m, l);

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
        issue_pv<BF16, D, KT>(acc, p, smem_addr(vs + (tile % STAGES) * TILE), REGION);
    };
    // Tile `tile`'s key bias (if it has masked keys), then the online softmax (wgmma_common.cu).
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
        online_softmax<KT, true>(s, m, l, alpha, scale_log2);
    };
    auto rescale = [&](const float alpha[2]) { rescale_o<D, true>(acc, alpha); };
    auto pack = [&](u32 (&p)[KT / 16][4]) { pack_p<BF16, KT>(p, s); };
    auto fence_s = [&] { reg_fence(s); };
    auto fence_acc = [&] { reg_fence(acc); };

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

    store_o<BF16, D>(o, lse, head, rows, T, tig, acc, m, l);
}

// Two CTAs per SM at d 128 (registers), three at d 64 (shared memory).
#define RADIAL_WGMMA_ENTRY(NAME, BF16, D, BLOCK)                                                   \
    extern "C" __global__ void __launch_bounds__(128, D == 64 ? 3 : 2)                             \
        NAME(const u16* q, const u16* k, const u16* v, u16* o, float* lse,                         \
             const unsigned char* key_pad, const int* row_ptr, const int* col_idx,                \
             const int* order, int H, int T, float scale_log2) {                                   \
        radial_wgmma<BF16, D, BLOCK>(q, k, v, o, lse, key_pad, row_ptr, col_idx, order, H, T,     \
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
