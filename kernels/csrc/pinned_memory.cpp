// Page-locked (pinned) host copies of tensors, for host-to-device copies that do not stop the host:
// from pageable memory libtorch's copy waits for the stream to drain, which in a training loop
// empties the GPU's queue once per batch. tch 0.24's `pin_memory` always passes the device argument,
// which libtorch deprecates with a warning on every call; this shim calls it without.
#include <ATen/ATen.h>

extern "C" {

// Writes a new tensor to `*out`: `src` itself if already pinned, else a pinned copy of it (from
// libtorch's caching host allocator, which holds a block until the copies reading it are done).
// Returns 0, or 1 if libtorch throws (no CUDA runtime, not a CPU tensor).
int keta_pin_memory(const at::Tensor* src, at::Tensor** out) {
  try {
    *out = new at::Tensor(src->pin_memory());
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
