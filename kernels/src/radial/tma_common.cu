// TMA and mbarrier helpers shared by the warp-specialized Hopper kernels (radial_fwd_ws.cu,
// radial_fwd_pws.cu); fused.rs prepends this file after wgmma_common.cu.

__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory");
}
// Spins until the phase of parity `parity` of the barrier has completed.
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    asm volatile(
        "{\n.reg .pred done;\nWAIT_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT_%=;\n}\n" :: "r"(bar), "r"(parity) : "memory");
}
// A 64-dim x 128-key box of the [B*H, T, D] tensor at (dim d0, key k0, head bh) into shared memory.
__device__ __forceinline__ void tma_load(u32 dst, const void* map, int d0, int k0, int bh, u32 bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];"
        :: "r"(dst), "l"(map), "r"(d0), "r"(k0), "r"(bh), "r"(bar) : "memory");
}

// The tensor map of one [B*H, T, D] operand, built on the host (cuTensorMapEncodeTiled).
struct __align__(64) TmaMap { u64 opaque[16]; };

// The producer's step: the K and V tiles (128 keys x D dims, in 64-dim regions of 16 KiB) of the
// key block col_idx[e] into stage g % STAGES of the ring, after the consumers have freed that
// stage (from the ring's second round on). `full` and `empty` are the ring's mbarrier arrays. The
// block index is read after the wait: at 24 registers a value held across it spills. With
// `stage_key0`, the tile's first key goes into stage_key0[stage] before the "full" arrival, so
// that consumers read it from shared memory instead of loading col_idx themselves.
template <int D, int STAGES>
__device__ __forceinline__ void load_kv(const TmaMap& kmap, const TmaMap& vmap, u32 ks, u32 vs,
                                        u32 full, u32 empty, int g, const int* col_idx, int e,
                                        int bh, volatile int* stage_key0 = nullptr) {
    constexpr int REGION = 128 * 128, TILE = REGION * (D / 64);
    const int s = g % STAGES, round = g / STAGES;
    if (round > 0) mbar_wait(empty + 8 * s, (round - 1) & 1);
    const int key0 = col_idx[e] * 128;
    if (stage_key0 != nullptr) stage_key0[s] = key0;
    mbar_expect_tx(full + 8 * s, 2 * TILE);
#pragma unroll
    for (int r = 0; r < D / 64; ++r) {
        tma_load(ks + s * TILE + r * REGION, &kmap, r * 64, key0, bh, full + 8 * s);
        tma_load(vs + s * TILE + r * REGION, &vmap, r * 64, key0, bh, full + 8 * s);
    }
}
