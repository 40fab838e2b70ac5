// libtorch's current CUDA stream as a raw cudaStream_t, for work that must queue behind (and ahead
// of) libtorch's own kernels: NCCL collectives on gradients (train/src/nccl.rs). tch 0.24 does not
// expose it.
#include <c10/cuda/CUDAStream.h>

extern "C" {

// Writes the current stream of `device` to `*out` (null is the legacy default stream, libtorch's
// default); returns 0, or 1 if libtorch throws (no such device).
int keta_current_stream(int device, void** out) {
  try {
    *out = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
