//! CUDA graphs: record a fixed sequence of libtorch calls once and replay it with a single launch.
//! Sampling a short motion is bound by kernel-launch overhead (~150 small kernels a diffusion step
//! for one motion); a replay costs one launch. tch binds no `at::cuda::CUDAGraph`, so a small C++
//! shim (csrc/cuda_graph.cpp, built by build.rs) wraps it.
//!
//! The usual rules of graph capture hold: the recorded calls must read and write the same tensors
//! every time (copy new inputs into the captured input tensors before `replay`, read the captured
//! outputs after it), and must not synchronise with the host or allocate outside the graph's pool.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

extern "C" {
    fn keta_graph_new(out: *mut *mut c_void) -> *mut c_char;
    fn keta_graph_delete(graph: *mut c_void);
    fn keta_graph_free_error(message: *mut c_char);
    fn keta_graph_capture_begin(graph: *mut c_void, device: c_int) -> *mut c_char;
    fn keta_graph_capture_end(graph: *mut c_void) -> *mut c_char;
    fn keta_graph_replay(graph: *mut c_void) -> *mut c_char;
}

/// A captured CUDA graph.
#[derive(Debug)]
pub struct CudaGraph {
    raw: NonNull<c_void>,
}

// The graph object is only touched through &mut self or &self calls that libtorch serialises on its
// stream; moving it across threads is safe.
unsafe impl Send for CudaGraph {}

/// Turns a shim's error message (malloc'ed, or null for success) into a Result.
fn check(message: *mut c_char, what: &str) -> Result<(), String> {
    if message.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string the shim allocated for us.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: freed exactly once, with the shim's own deallocator.
    unsafe { keta_graph_free_error(message) };
    let first = text.lines().next().unwrap_or("").to_string();
    Err(format!("CUDA graph {what}: {first}"))
}

impl CudaGraph {
    /// Runs `record` while capturing CUDA device `device`'s work into a new graph, and returns the
    /// graph with what `record` returned (its tensors are the graph's outputs). The work is recorded,
    /// not executed: call [`CudaGraph::replay`] to run it.
    pub fn capture<T>(device: usize, record: impl FnOnce() -> T) -> Result<(Self, T), String> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: the shim writes a new graph into `raw` or returns an error message.
        check(unsafe { keta_graph_new(&mut raw) }, "creation")?;
        let raw = NonNull::new(raw).ok_or_else(|| "CUDA graph creation: null".to_string())?;
        let graph = Self { raw };
        // SAFETY: `raw` is a live graph; the shim reports failures as messages.
        check(
            unsafe { keta_graph_capture_begin(graph.raw.as_ptr(), device as c_int) },
            "capture",
        )?;
        // A panic inside `record` must still end the capture, or the stream stays in capture mode.
        let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(record));
        // SAFETY: as above; ends the capture begun just before.
        let ended = check(
            unsafe { keta_graph_capture_end(graph.raw.as_ptr()) },
            "capture",
        );
        match recorded {
            Ok(value) => ended.map(|()| (graph, value)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Launches the recorded work on the current stream.
    pub fn replay(&self) -> Result<(), String> {
        // SAFETY: `raw` is a live, captured graph.
        check(unsafe { keta_graph_replay(self.raw.as_ptr()) }, "replay")
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `raw` came from keta_graph_new and is deleted once.
        unsafe { keta_graph_delete(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_without_a_gpu_is_an_error_not_a_crash() {
        if tch::Cuda::is_available() {
            return;
        }
        let e = CudaGraph::capture(0, || ()).unwrap_err();
        assert!(e.starts_with("CUDA graph creation:"), "{e}");
    }
    // Replay on a GPU: tests/gpu.rs (a_cuda_graph_replays_recorded_work_on_new_inputs), which the
    // device script runs.
}
