// Radial block-sparse flash-attention forward for Hopper at head dim 64: radial_fwd_ws.cu's
// warp-specialized layout (one TMA producer warpgroup, two consumer warpgroups of 64 query rows)
// made persistent, because at d64 a CTA of radial_fwd_ws.cu spends 30% of its life outside its
// main loop (kernels/notes/README.md, v5: Q load, first TMA, first product and softmax, last
// P V, stores, the gap to the next CTA) and its tiles per query block are few (6-10).
//   - One CTA per SM. The producer takes query blocks ("items": query block x head x batch, the
//     query blocks of a head in the layout's longest-first order) from a ticket counter in global
//     memory, loads each item's Q (both halves, 16 KiB) by TMA into one of two Q slots, then
//     its K/V tiles into a ring of 5 stages that runs on across items. The item's index, query
//     block and CSR row travel in shared memory beside the Q slot, behind its "full" mbarrier.
//   - The consumers read Q by descriptor (wgmma A from shared memory: no Q registers) and walk
//     the stream of tiles without stopping at item boundaries: an item's last P V is issued
//     together with the next item's first S, and its O and lse are stored while that S runs.
//   - They run freely (no ping-pong, no softmax-holding barrier: at d64 neither pays).
// The ticket counter resets itself: every CTA draws until it gets a ticket past the last item,
// then counts itself done; the last one to do so zeroes both counters for the next launch. So
// launches must not overlap in time on one device (fused.rs launches on one stream), and every
// CSR row must have at least one block (BlockLayout guarantees it).

__device__ unsigned int g_ticket, g_done;

// K/V stages (2 x 16 KiB each) and two Q slots of 16 KiB: 192 KiB.
constexpr int PWS_STAGES = 5;

template <bool BF16, int D>
__device__ __forceinline__ void radial_pws(
    const TmaMap& kmap, const TmaMap& vmap, const TmaMap& qmap, u16* __restrict__ o,
    float* __restrict__ lse, const unsigned char* __restrict__ key_pad,
    const int* __restrict__ row_ptr, const int* __restrict__ col_idx,
    const int* __restrict__ order, int H, int T, int nb, int items, float scale_log2) {
    static_assert(D == 64, "the persistent kernel's ring and Q slots are sized for d64");
    constexpr int KT = 128;
    constexpr int STAGES = PWS_STAGES;
    constexpr int REGION = KT * 128;
    constexpr int TILE = REGION * (D / 64);
    extern __shared__ unsigned char smem_raw[];
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    const u32 ks = smem_addr(smem);
    const u32 vs = ks + STAGES * TILE;
    const u32 qs = vs + STAGES * TILE;                      // Q[2]
    const u32 full = qs + 2 * TILE;
    const u32 empty = full + STAGES * 8;
    const u32 qfull = empty + STAGES * 8;                   // mbarriers [2]: Q slot loaded
    const u32 qempty = qfull + 16;                          // mbarriers [2]: Q slot read
    // [2][4]: each Q slot's item (-1 = no more), query block, first CSR entry and tile count, so
    // that the consumers start an item without a chain of global loads (order, then row_ptr).
    volatile int* item_info = (volatile int*)(smem + (qempty + 16 - ks));
    // [STAGES]: each stage's first key, written by the producer before the stage's "full" arrival.
    volatile int* stage_key0 = item_info + 8;
    const int wg = threadIdx.x / 128;

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(full + 8 * s, 1);
            mbar_init(empty + 8 * s, 256);
        }
        for (int s = 0; s < 2; ++s) {
            mbar_init(qfull + 8 * s, 1);
            mbar_init(qempty + 8 * s, 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
        if (threadIdx.x == 0) {
            int g = 0;  // tiles loaded so far: the ring's stage and phase
            for (int i = 0;; ++i) {
                // Item i goes to Q slot i % 2, free once the consumers are done with item i - 2.
                const int slot = i & 1;
                if (i >= 2) mbar_wait(qempty + 8 * slot, ((i >> 1) - 1) & 1);
                const int item = (int)atomicAdd(&g_ticket, 1u);
                if (item >= items) {
                    item_info[4 * slot] = -1;
                    mbar_arrive(qfull + 8 * slot);
                    if (atomicAdd(&g_done, 1u) == gridDim.x - 1) {
                        g_ticket = 0;
                        g_done = 0;
                        __threadfence();
                    }
                    break;
                }
                const int qb = order[item % nb], bh = item / nb;
                const int e0 = row_ptr[qb], n = row_ptr[qb + 1] - e0;
                // The plain stores are ordered before the consumers' reads by the barrier's
                // release (arrive) and acquire (wait).
                item_info[4 * slot] = item;
                item_info[4 * slot + 1] = qb;
                item_info[4 * slot + 2] = e0;
                item_info[4 * slot + 3] = n;
                mbar_expect_tx(qfull + 8 * slot, TILE);
#pragma unroll
                for (int r = 0; r < D / 64; ++r)
                    tma_load(qs + slot * TILE + r * REGION, &qmap, r * 64, qb * KT, bh, qfull + 8 * slot);
                for (int tile = 0; tile < n; ++tile, ++g) {
                    load_kv<D, STAGES>(kmap, vmap, ks, vs, full, empty, g, col_idx, e0 + tile, bh,
                                       stage_key0);
                }
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");

    const int c = wg - 1;
    const int tig = threadIdx.x & 3;
    float acc[D / 2];
    float s[KT / 2];
    u32 p[KT / 16][4];
    float m[2], l[2], alpha[2];

    // The current item, the i-th this CTA takes (Q slot i % 2).
    int i = 0, qb, bh, b, e0, n;
    size_t head;
    int rows[2];
    u32 qt;
    // Whether the producer left an item in this slot.
    auto has_item = [&](int slot) { return item_info[4 * slot] >= 0; };
    auto load_item = [&](int slot) {
        bh = item_info[4 * slot] / nb; b = bh / H;
        qb = item_info[4 * slot + 1];
        e0 = item_info[4 * slot + 2];
        n = item_info[4 * slot + 3];
        head = (size_t)bh * (size_t)T;
        warpgroup_rows(rows, qb * KT + c * 64);
        qt = qs + slot * TILE + c * 8192;
    };
    auto fence_s = [&] { reg_fence(s); };
    auto fence_acc = [&] { reg_fence(acc); };
    // gt: the tile's index in this CTA's stream (its stage and phase).
    auto scores = [&](int gt) {
        const u32 kt = ks + (gt % STAGES) * TILE;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            const u64 a = sw128_desc(qt + (kk / 4) * REGION + (kk % 4) * 32, 16, 1024);
            const u64 bd = sw128_desc(kt + (kk / 4) * REGION + (kk % 4) * 32, 16, 1024);
            if (BF16) wgmma_n128_bf16_ss(s, a, bd, kk > 0); else wgmma_n128_f16_ss(s, a, bd, kk > 0);
        }
        wgmma_commit();
    };
    auto values = [&](int gt) { issue_pv<BF16, D, KT>(acc, p, vs + (gt % STAGES) * TILE, REGION); };
    // Masks tile `gt`, its first key from shared memory (the producer has read col_idx already;
    // a global load per tile here cost 0.5-1.5%, kernels/notes v8).
    auto mask = [&](int gt) { mask_keys<KT>(s, stage_key0[gt % STAGES], T, key_pad, b, tig); };
    auto wait_full = [&](int gt) { mbar_wait(full + 8 * (gt % STAGES), (gt / STAGES) & 1); };
    auto release = [&](int gt) { mbar_arrive(empty + 8 * (gt % STAGES)); };
    // O = alpha O + P V of tile v (issued, not waited for).
    auto accumulate = [&](int v) {
        fence_acc();
        rescale_o<D>(acc, alpha);
        fence_acc();
        wgmma_fence();
        values(v);
    };
    // S of tile `sg` and P V of tile v issued together; returns once S is done.
    auto overlap = [&](int sg, int v) {
        wait_full(sg);
        wgmma_fence();
        scores(sg);
        accumulate(v);
        wgmma_wait<1>();
        fence_s();
    };
    // P V of tile v done: its stage goes back to the producer.
    auto retire = [&](int v) {
        wgmma_wait<0>();
        fence_acc();
        release(v);
    };

    mbar_wait(qfull, 0);
    if (!has_item(0)) return;
    load_item(0);
    zero(acc);
    fresh_stats(m, l);
    int gt = 0;  // the stream index of the item's tile 0
    wait_full(gt);
    wgmma_fence();
    scores(gt);
    wgmma_wait<0>();
    fence_s();
    mask(gt);
    online_softmax<KT>(s, m, l, alpha, scale_log2);
    pack_p<BF16, KT>(p, s);
    int tile = 1;
    while (true) {
        if (tile < n) {
            overlap(gt + tile, gt + tile - 1);
            mask(gt + tile);
            online_softmax<KT>(s, m, l, alpha, scale_log2);
            retire(gt + tile - 1);
            pack_p<BF16, KT>(p, s);
            ++tile;
            continue;
        }
        // The item's tiles are issued: its last P V overlaps the next item's first S and softmax.
        const int last = gt + n - 1;
        mbar_arrive(qempty + 8 * (i & 1));  // this item's Q is no longer read
        mbar_wait(qfull + 8 * ((i + 1) & 1), ((i + 1) >> 1) & 1);
        const size_t phead = head;
        const int prows[2] = {rows[0], rows[1]};
        if (!has_item((i + 1) & 1)) {
            accumulate(last);
            retire(last);
            store_o<BF16, D>(o, lse, phead, prows, T, tig, acc, m, l);
            break;
        }
        ++i;
        load_item(i & 1);
        gt = last + 1;
        overlap(gt, last);
        const float pm[2] = {m[0], m[1]};
        float pl[2] = {l[0], l[1]};
        fresh_stats(m, l);
        mask(gt);
        online_softmax<KT>(s, m, l, alpha, scale_log2);
        retire(last);
        store_o<BF16, D>(o, lse, phead, prows, T, tig, acc, pm, pl);
        zero(acc);
        pack_p<BF16, KT>(p, s);
        tile = 1;
    }
}

// One CTA per SM (the grid is min(items, SMs)): three warpgroups, 192 KiB of K/V stages and Q slots.
#define RADIAL_PWS_ENTRY(NAME, BF16, D)                                                            \
    extern "C" __global__ void __launch_bounds__(384, 1)                                           \
        NAME(const __grid_constant__ TmaMap kmap, const __grid_constant__ TmaMap vmap,             \
             const __grid_constant__ TmaMap qmap, u16* o, float* lse,                               \
             const unsigned char* key_pad, const int* row_ptr, const int* col_idx,                \
             const int* order, int H, int T, int nb, int items, float scale_log2) {                \
        radial_pws<BF16, D>(kmap, vmap, qmap, o, lse, key_pad, row_ptr, col_idx, order, H, T, nb,  \
                            items, scale_log2);                                                    \
    }

RADIAL_PWS_ENTRY(radial_pws_bf16_d64_b128, true, 64)
RADIAL_PWS_ENTRY(radial_pws_f16_d64_b128, false, 64)
