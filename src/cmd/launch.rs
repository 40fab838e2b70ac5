//! `keta train mdm --gpus N [--nodes M --node-rank K --rendezvous R]`: starts one process per GPU
//! of this machine (this same command plus `--rank`), each seeing one GPU, and watches them. One
//! process per GPU rather than one thread: libtorch's random generators are per device and
//! process-wide, and each rank seeds its own every step.
//!
//! Rank 0's output is this command's; the others write `OUT/rank-<r>.log`. When a rank fails, the
//! others are stopped at once and its log's end is printed, so a dead rank never leaves the rest
//! waiting (on several machines, each rank's NCCL watchdog does the same after --dist-timeout).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::{DeviceArg, TrainArgs};

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let (gpus, nodes, node) = (args.gpus, args.nodes, args.node_rank);
    if gpus == 0 || nodes == 0 {
        bail!("--gpus and --nodes must be at least 1");
    }
    if node >= nodes {
        bail!("--node-rank {node} must be below --nodes {nodes}");
    }
    if args.device == DeviceArg::Cpu {
        bail!("--gpus {gpus} trains on GPUs: drop --device cpu (or use --gpus 1)");
    }
    let available = tch::Cuda::device_count().max(0) as usize;
    if gpus > available {
        bail!(
            "--gpus {gpus}, but libtorch sees {available} CUDA device(s) on this machine: use \
             --gpus {}",
            available.max(1)
        );
    }
    let visible = visible_devices(available);
    let world = gpus * nodes;
    let scratch = std::env::temp_dir().join(format!("keta-ranks-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let rendezvous = match &args.rendezvous {
        Some(r) => r.clone(),
        None if nodes == 1 => scratch.join("nccl-id").display().to_string(),
        None => {
            bail!("--nodes {nodes} needs --rendezvous FILE|HOST:PORT (the same on every machine)")
        }
    };
    // cudarc loads `libnccl.so`; the wheel beside libtorch ships `libnccl.so.2`.
    let mut library_path = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(lib) = train::nccl::find_library(&kernels::cuda::torch_dirs()) {
        library_path.insert(0, train::nccl::link_library(&lib, &scratch.join("lib"))?);
    }
    let library_path = std::env::join_paths(library_path)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    eprintln!(
        "keta: {world} rank(s) over {nodes} machine(s), ranks {}..{} here on GPU(s) {}; rendezvous \
         {rendezvous}; other ranks log to {}/rank-<r>.log",
        node * gpus,
        node * gpus + gpus - 1,
        visible[..gpus].join(","),
        args.out.display()
    );
    let exe = std::env::current_exe().context("cannot find the keta executable")?;
    let mut ranks = Vec::new();
    for (local, device) in visible.iter().take(gpus).enumerate() {
        let rank = node * gpus + local;
        let mut cmd = Command::new(&exe);
        cmd.args(std::env::args_os().skip(1))
            .args(["--rank", &rank.to_string()])
            .env("CUDA_VISIBLE_DEVICES", device)
            .env("LD_LIBRARY_PATH", &library_path);
        if args.rendezvous.is_none() {
            cmd.args(["--rendezvous", &rendezvous]);
        }
        // NVLink multicast can take GPUs of shared hosts out of service; keep it off unless asked.
        if std::env::var_os("NCCL_NVLS_ENABLE").is_none() {
            cmd.env("NCCL_NVLS_ENABLE", "0");
        }
        let log = rank_log(&args.out, rank);
        if rank != 0 {
            let file =
                File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        // A rank ends with the launcher (Ctrl-C, a job scheduler's kill), never trains on alone.
        // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start rank {rank}"))?;
        ranks.push((rank, child));
    }
    let outcome = watch(&mut ranks, &args.out);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Waits for every rank; the first that fails stops the others.
fn watch(ranks: &mut Vec<(usize, Child)>, out: &Path) -> anyhow::Result<()> {
    loop {
        let mut failed: Option<(usize, ExitStatus)> = None;
        let mut i = 0;
        while i < ranks.len() {
            match ranks[i].1.try_wait()? {
                Some(status) => {
                    let (rank, _) = ranks.remove(i);
                    if !status.success() && failed.is_none() {
                        failed = Some((rank, status));
                    }
                }
                None => i += 1,
            }
        }
        if let Some((rank, status)) = failed {
            for (_, child) in ranks.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let stopped: Vec<String> = ranks.iter().map(|(r, _)| r.to_string()).collect();
            ranks.clear();
            if rank != 0 {
                let log = rank_log(out, rank);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(8).collect();
                for line in tail.iter().rev() {
                    eprintln!("  rank {rank}| {line}");
                }
            }
            bail!(
                "rank {rank} stopped ({status}); stopped the other rank(s) {} too{}",
                if stopped.is_empty() {
                    "-".into()
                } else {
                    stopped.join(", ")
                },
                if rank != 0 {
                    format!(" (its log: {})", rank_log(out, rank).display())
                } else {
                    String::new()
                }
            );
        }
        if ranks.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rank_log(out: &Path, rank: usize) -> PathBuf {
    out.join(format!("rank-{rank}.log"))
}

/// The devices this process may use, as `CUDA_VISIBLE_DEVICES` entries: its own list where set
/// (rank r gets the r-th), else 0..count.
fn visible_devices(count: usize) -> Vec<String> {
    match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').map(|d| d.trim().to_string()).collect()
        }
        _ => (0..count).map(|d| d.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_failed_rank_stops_the_others_and_is_named() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(
            rank_log(out.path(), 1),
            "loading\nCUDA error: out of memory\n",
        )
        .unwrap();
        let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let failing = Command::new("sh")
            .args(["-c", "sleep 0.3; exit 3"])
            .spawn()
            .unwrap();
        let mut ranks = vec![(0, sleeper), (1, failing)];
        let started = Instant::now();
        let e = watch(&mut ranks, out.path()).unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "rank 0 was not stopped"
        );
        assert!(e.contains("rank 1 stopped"), "{e}");
        assert!(e.contains("stopped the other rank(s) 0"), "{e}");
        assert!(e.contains("rank-1.log"), "{e}");
        assert!(ranks.is_empty());
    }

    #[test]
    fn ranks_that_all_finish_are_a_success() {
        let out = tempfile::tempdir().unwrap();
        let mut ranks: Vec<(usize, Child)> = (0..3)
            .map(|r| (r, Command::new("true").spawn().unwrap()))
            .collect();
        watch(&mut ranks, out.path()).unwrap();
    }
}
