//! [`Collective`] between GPUs through NCCL (cudarc's bindings, loaded at run time from the NCCL
//! library that ships with libtorch's CUDA wheels), on libtorch's current stream so collectives
//! queue behind the backward pass that wrote the gradients and ahead of the optimizer that reads
//! them: no host synchronisation per step.
//!
//! A rank sees one GPU (`cuda:0`; the launcher sets `CUDA_VISIBLE_DEVICES` per rank). A dead or
//! hung peer would block the others forever inside a CUDA wait, so a watchdog thread polls NCCL's
//! asynchronous error and the time since the last collective was issued; past the timeout it
//! aborts the communicator and ends the process with a message naming the rank.

use std::ffi::{c_char, CStr};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cudarc::nccl::{result, sys};
use tch::{Device, Kind, Tensor};

use crate::collective::Collective;
use crate::error::{Error, Result};
use crate::rendezvous::Rendezvous;

/// The name cudarc looks for; the wheels ship only `libnccl.so.2` (see [`link_library`]).
const LIBRARY: &str = "libnccl.so";
const WHEEL_LIBRARY: &str = "libnccl.so.2";

/// One rank's NCCL communicator over every rank of the run.
pub struct NcclGroup {
    comm: sys::ncclComm_t,
    rank: usize,
    world: usize,
    watchdog: Watchdog,
}

// The communicator is used from the training thread only; the watchdog thread touches it solely
// through ncclCommGetAsyncError and ncclCommAbort, which NCCL allows from another thread.
unsafe impl Send for NcclGroup {}
unsafe impl Sync for NcclGroup {}

impl NcclGroup {
    /// Joins the run as `rank` of `world` on `cuda:0`: rank 0 makes the NCCL id and hands it out
    /// through `rendezvous` (refusing ranks whose config `fingerprint` differs); every rank then
    /// joins the communicator. `timeout` bounds the rendezvous, the join and, through the watchdog,
    /// every wait on another rank.
    pub fn join(
        rank: usize,
        world: usize,
        rendezvous: &Rendezvous,
        fingerprint: u64,
        timeout: Duration,
    ) -> Result<Self> {
        ensure_library()?;
        let id = if rank == 0 {
            let id = result::get_uniqueid().map_err(|e| nccl_error("ncclGetUniqueId", e))?;
            Some(id.internal.iter().map(|&c| c as u8).collect::<Vec<u8>>())
        } else {
            None
        };
        let bytes = rendezvous.exchange(rank, world, fingerprint, id.as_deref(), timeout)?;
        let mut unique = sys::ncclUniqueId { internal: [0; 128] };
        if bytes.len() != unique.internal.len() {
            return Err(Error::Invalid(format!(
                "rank {rank}: the rendezvous gave a {}-byte NCCL id, not 128",
                bytes.len()
            )));
        }
        for (dst, src) in unique.internal.iter_mut().zip(&bytes) {
            *dst = *src as c_char;
        }
        // NCCL joins the current device's primary context, which libtorch creates on first use.
        let _ = Tensor::zeros([1], (Kind::Float, Device::Cuda(0)));
        let watchdog = Watchdog::start(rank, timeout);
        watchdog.beat("joining the NCCL communicator");
        let mut comm = MaybeUninit::<sys::ncclComm_t>::uninit();
        // SAFETY: `comm` receives the new communicator; the id is the one every rank received.
        unsafe { result::comm_init_rank(comm.as_mut_ptr(), world as i32, unique, rank as i32) }
            .map_err(|e| nccl_error("ncclCommInitRank", e))?;
        // SAFETY: written by a successful ncclCommInitRank.
        let comm = unsafe { comm.assume_init() };
        watchdog.watch(comm);
        if rank == 0 {
            rendezvous.finish()?;
        }
        Ok(Self {
            comm,
            rank,
            world,
            watchdog,
        })
    }

    /// Enqueues one in-place collective on `t` on libtorch's current stream.
    fn enqueue(
        &self,
        what: &'static str,
        t: &Tensor,
        call: impl FnOnce(
            *mut std::ffi::c_void,
            usize,
            sys::ncclDataType_t,
            sys::cudaStream_t,
        ) -> std::result::Result<result::NcclStatus, result::NcclError>,
    ) -> Result<()> {
        if t.device() != Device::Cuda(0) || !t.is_contiguous() {
            return Err(Error::Invalid(format!(
                "{what}: NCCL needs a contiguous tensor on cuda:0, got {:?} (contiguous: {})",
                t.device(),
                t.is_contiguous()
            )));
        }
        let dtype = match t.kind() {
            Kind::Float => sys::ncclDataType_t::ncclFloat32,
            Kind::Double => sys::ncclDataType_t::ncclFloat64,
            Kind::Half => sys::ncclDataType_t::ncclFloat16,
            Kind::BFloat16 => sys::ncclDataType_t::ncclBfloat16,
            Kind::Int64 => sys::ncclDataType_t::ncclInt64,
            Kind::Int => sys::ncclDataType_t::ncclInt32,
            other => {
                return Err(Error::Invalid(format!(
                    "{what}: NCCL cannot reduce {other:?} tensors"
                )))
            }
        };
        let stream = kernels::cuda::current_stream(0).map_err(Error::Invalid)? as sys::cudaStream_t;
        self.watchdog.beat(what);
        call(t.data_ptr(), t.numel(), dtype, stream).map_err(|e| nccl_error(what, e))?;
        Ok(())
    }
}

impl Collective for NcclGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn all_reduce_mean(&self, t: &Tensor) -> Result<()> {
        self.enqueue("all-reduce (mean)", t, |p, n, dtype, stream| {
            // SAFETY: `p` holds `n` elements of `dtype` on this rank's device; in place is allowed.
            unsafe {
                result::all_reduce(p, p, n, dtype, sys::ncclRedOp_t::ncclAvg, self.comm, stream)
            }
        })
    }
    fn all_reduce_max(&self, t: &Tensor) -> Result<()> {
        self.enqueue("all-reduce (max)", t, |p, n, dtype, stream| {
            // SAFETY: as above.
            unsafe {
                result::all_reduce(p, p, n, dtype, sys::ncclRedOp_t::ncclMax, self.comm, stream)
            }
        })
    }
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        self.enqueue("broadcast", t, |p, n, dtype, stream| {
            // SAFETY: as above.
            unsafe { result::broadcast(p, p, n, dtype, root as i32, self.comm, stream) }
        })
    }
}

impl Drop for NcclGroup {
    fn drop(&mut self) {
        self.watchdog.stop();
        // Every rank issued the same collectives: once this rank's stream is idle they are done.
        tch::Cuda::synchronize(0);
        // SAFETY: the communicator is live and no collective is in flight.
        let _ = unsafe { result::comm_destroy(self.comm) };
    }
}

/// Polls NCCL's asynchronous error and the time since the last collective was issued.
struct Watchdog {
    shared: Arc<Watched>,
    thread: Option<JoinHandle<()>>,
}

struct Watched {
    rank: usize,
    timeout: Duration,
    started: Instant,
    /// Milliseconds after `started` of the last `beat`.
    last_beat_ms: AtomicU64,
    what: Mutex<&'static str>,
    comm: AtomicPtr<sys::ncclComm>,
    stop: AtomicBool,
}

impl Watchdog {
    fn start(rank: usize, timeout: Duration) -> Self {
        let shared = Arc::new(Watched {
            rank,
            timeout,
            started: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            what: Mutex::new("starting"),
            comm: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
        });
        let watched = shared.clone();
        let thread = std::thread::spawn(move || watched.run());
        Self {
            shared,
            thread: Some(thread),
        }
    }

    fn beat(&self, what: &'static str) {
        let s = &self.shared;
        s.last_beat_ms
            .store(s.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Ok(mut w) = s.what.lock() {
            *w = what;
        }
    }

    fn watch(&self, comm: sys::ncclComm_t) {
        self.shared.comm.store(comm, Ordering::Release);
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Watched {
    fn run(&self) {
        while !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(200));
            let comm = self.comm.load(Ordering::Acquire);
            if !comm.is_null() {
                let mut state = sys::ncclResult_t::ncclSuccess;
                // SAFETY: a live communicator; NCCL allows this query from any thread.
                unsafe { sys::ncclCommGetAsyncError(comm, &mut state) };
                if !matches!(
                    state,
                    sys::ncclResult_t::ncclSuccess | sys::ncclResult_t::ncclInProgress
                ) {
                    self.give_up(comm, &format!("NCCL reported {}", error_string(state)));
                }
            }
            let idle = self.started.elapsed().as_millis() as u64
                - self.last_beat_ms.load(Ordering::Relaxed);
            if idle > self.timeout.as_millis() as u64 && !self.stop.load(Ordering::Acquire) {
                let what = self.what.lock().map(|w| *w).unwrap_or("a collective");
                self.give_up(
                    comm,
                    &format!(
                        "no progress for {} s after {what} (--dist-timeout): another rank has \
                         stopped or hangs",
                        self.timeout.as_secs()
                    ),
                );
            }
        }
    }

    fn give_up(&self, comm: sys::ncclComm_t, why: &str) -> ! {
        eprintln!("keta: rank {}: {why}; stopping this rank", self.rank);
        if !comm.is_null() {
            // SAFETY: ends the communicator's kernels so that the process can exit.
            let _ = unsafe { result::comm_abort(comm) };
        }
        std::process::exit(1);
    }
}

fn error_string(code: sys::ncclResult_t) -> String {
    // SAFETY: NCCL returns a static NUL-terminated string for every code.
    let text = unsafe { CStr::from_ptr(sys::ncclGetErrorString(code)) };
    format!("{} ({code:?})", text.to_string_lossy())
}

fn nccl_error(what: &str, e: result::NcclError) -> Error {
    Error::Invalid(format!("{what} failed: {}", error_string(e.0)))
}

/// NCCL must be loadable before cudarc touches it (cudarc panics when it is not).
fn ensure_library() -> Result<()> {
    // SAFETY: only tries to dlopen the candidate names.
    if unsafe { sys::is_culib_present() } {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "the NCCL library ({LIBRARY}) is not on the library path: `keta train --gpus N` links it \
         from libtorch's nvidia/nccl/lib; when starting ranks by hand, put a folder with \
         {LIBRARY} -> {WHEEL_LIBRARY} on LD_LIBRARY_PATH"
    )))
}

/// Where `libnccl.so.2` is: the library path, then the wheels beside libtorch.
pub fn find_library(torch_dirs: &[PathBuf]) -> Option<PathBuf> {
    let from_env = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_env
        .into_iter()
        .chain(torch_dirs.iter().map(|t| t.join("../nvidia/nccl/lib")))
        .map(|d| d.join(WHEEL_LIBRARY))
        .find(|p| p.exists())
}

/// Makes `dir/libnccl.so` point at `library` (what cudarc's loader looks for) and returns `dir`,
/// to put first on the ranks' LD_LIBRARY_PATH.
pub fn link_library(library: &Path, dir: &Path) -> Result<PathBuf> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let link = dir.join(LIBRARY);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(library, &link).map_err(io)?;
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_the_wheel_library_under_the_name_cudarc_loads() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("wheel/nvidia/nccl/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join(WHEEL_LIBRARY), b"").unwrap();
        let torch = dir.path().join("wheel/torch");
        std::fs::create_dir_all(&torch).unwrap();
        let found = find_library(&[dir.path().join("elsewhere"), torch]).unwrap();
        assert!(
            found.ends_with("nvidia/nccl/lib/libnccl.so.2"),
            "{}",
            found.display()
        );
        let linked = link_library(&found, &dir.path().join("links")).unwrap();
        let target = std::fs::read_link(linked.join(LIBRARY)).unwrap();
        assert_eq!(target, found);
        // Linking again (a second run) replaces the link.
        link_library(&found, &dir.path().join("links")).unwrap();
    }
}
