// CUDA graphs for keta: capture a sequence of libtorch calls once, replay it with one launch.
// tch 0.24 binds no `at::cuda::CUDAGraph`, so this thin C ABI wraps it (kernels/src/graph.rs).
// Every entry catches C++ exceptions and returns their message (caller frees it with
// keta_graph_free_error), so no exception crosses into Rust.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>

namespace {

struct Graph {
  at::cuda::CUDAGraph graph;
  // Capture runs on a side stream (legacy default-stream work cannot be captured); the caller's
  // stream is restored when the capture ends.
  std::optional<c10::cuda::CUDAStream> previous;
};

char* copy_message(const char* what) {
  size_t n = std::strlen(what) + 1;
  char* out = static_cast<char*>(std::malloc(n));
  if (out != nullptr) std::memcpy(out, what, n);
  return out;
}

template <typename F>
char* guarded(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return copy_message(e.what());
  } catch (...) {
    return copy_message("unknown C++ exception");
  }
}

}  // namespace

extern "C" {

// A new graph in `*out`, or an error message.
char* keta_graph_new(void** out) {
  *out = nullptr;
  return guarded([&] { *out = new Graph(); });
}

void keta_graph_delete(void* g) { delete static_cast<Graph*>(g); }

void keta_graph_free_error(char* message) { std::free(message); }

// Synchronizes `device`, makes a pool stream current and starts capturing into `g`.
char* keta_graph_capture_begin(void* g, int device) {
  return guarded([&] {
    auto* graph = static_cast<Graph*>(g);
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
    c10::cuda::device_synchronize();
    graph->previous = c10::cuda::getCurrentCUDAStream();
    c10::cuda::setCurrentCUDAStream(c10::cuda::getStreamFromPool());
    graph->graph.capture_begin();
  });
}

// Ends the capture (instantiating the graph) and restores the caller's stream.
char* keta_graph_capture_end(void* g) {
  return guarded([&] {
    auto* graph = static_cast<Graph*>(g);
    struct Restore {
      Graph* graph;
      ~Restore() {
        if (graph->previous) c10::cuda::setCurrentCUDAStream(*graph->previous);
      }
    } restore{graph};
    graph->graph.capture_end();
  });
}

// Launches the captured work on the current stream.
char* keta_graph_replay(void* g) {
  return guarded([&] { static_cast<Graph*>(g)->graph.replay(); });
}

}  // extern "C"
