//! How the ranks of a multi-GPU run find each other before NCCL can: rank 0 makes the NCCL unique
//! id (128 opaque bytes) and hands it to every other rank, through a file every rank can read
//! (one host, or a shared file system) or through TCP (`HOST:PORT` where rank 0 listens). Both
//! carry each rank's config fingerprint, so ranks started differently are refused before training.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// Where the ranks meet: `--rendezvous FILE|HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendezvous {
    /// Rank 0 writes the id here (a path that must not exist yet, on storage every rank reads);
    /// it removes the file once every rank has joined.
    File(PathBuf),
    /// Rank 0 listens on this address; the others connect.
    Tcp(String),
}

impl Rendezvous {
    /// `HOST:PORT` (a numeric port after the last colon, no `/`) is TCP; anything else is a file.
    pub fn parse(spec: &str) -> Result<Self> {
        if spec.is_empty() {
            return Err(Error::Invalid(
                "--rendezvous is empty: give a file path or HOST:PORT".into(),
            ));
        }
        if let Some((host, port)) = spec.rsplit_once(':') {
            if !spec.contains('/') && !host.is_empty() && port.parse::<u16>().is_ok() {
                return Ok(Rendezvous::Tcp(spec.to_string()));
            }
        }
        Ok(Rendezvous::File(PathBuf::from(spec)))
    }

    /// Rank 0: publishes `id` and waits until the `world - 1` other ranks have it (TCP; the file
    /// rendezvous cannot know, so it returns at once). Other ranks: waits for the id and returns
    /// it. Every rank refuses a peer whose `fingerprint` differs. Gives up after `timeout`.
    pub fn exchange(
        &self,
        rank: usize,
        world: usize,
        fingerprint: u64,
        id: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        match (self, rank, id) {
            (Rendezvous::File(path), 0, Some(id)) => {
                publish_file(path, fingerprint, id).map(|()| id.to_vec())
            }
            (Rendezvous::File(path), _, None) if rank > 0 => {
                read_file(path, rank, fingerprint, timeout)
            }
            (Rendezvous::Tcp(addr), 0, Some(id)) => {
                serve(addr, world, fingerprint, id, timeout).map(|()| id.to_vec())
            }
            (Rendezvous::Tcp(addr), _, None) if rank > 0 => fetch(addr, rank, fingerprint, timeout),
            _ => Err(Error::Invalid(format!(
                "rendezvous: rank {rank} {} an id (rank 0 alone makes it)",
                if id.is_some() {
                    "passed"
                } else {
                    "did not pass"
                }
            ))),
        }
    }

    /// Rank 0, once every rank has joined NCCL: removes the id file (nothing to do for TCP).
    pub fn finish(&self) -> Result<()> {
        if let Rendezvous::File(path) = self {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// File contents: `keta-rendezvous <fingerprint hex> <id hex>\n`.
fn publish_file(path: &Path, fingerprint: u64, id: &[u8]) -> Result<()> {
    if path.exists() {
        return Err(Error::File {
            path: path.to_path_buf(),
            msg: "the rendezvous file already exists (left by a run that stopped before every \
                  rank joined?): remove it or give a new path"
                .into(),
        });
    }
    let text = format!("keta-rendezvous {fingerprint:016x} {}\n", hex(id));
    write_atomic(path, text.as_bytes())
}

fn read_file(path: &Path, rank: usize, fingerprint: u64, timeout: Duration) -> Result<Vec<u8>> {
    let started = Instant::now();
    loop {
        // Written by rename, so a file that exists is whole.
        if let Ok(text) = std::fs::read_to_string(path) {
            let bad = || Error::File {
                path: path.to_path_buf(),
                msg: "not a keta rendezvous file".into(),
            };
            let mut parts = text.split_whitespace();
            if parts.next() != Some("keta-rendezvous") {
                return Err(bad());
            }
            let theirs = parts
                .next()
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
            let id = parts.next().and_then(unhex).ok_or_else(bad)?;
            if theirs != fingerprint {
                return Err(mismatch(rank, fingerprint, theirs));
            }
            return Ok(id);
        }
        if started.elapsed() > timeout {
            return Err(Error::Invalid(format!(
                "rank {rank}: rank 0 did not write the rendezvous file {} within {} s (is it \
                 running, and is the path on storage both see?)",
                path.display(),
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mismatch(rank: usize, mine: u64, theirs: u64) -> Error {
    Error::Invalid(format!(
        "rank {rank}: rank 0 was started with a different training config or data (fingerprint \
         {theirs:016x}, this rank {mine:016x}); start every rank with the same --config, --data \
         and flags"
    ))
}

/// TCP messages: a joining rank sends `rank: u64, fingerprint: u64` (big-endian); rank 0 answers
/// once every rank has come: `0u8, id` or `1u8, message length: u32, message`.
fn serve(addr: &str, world: usize, fingerprint: u64, id: &[u8], timeout: Duration) -> Result<()> {
    let io =
        |what: &str, e: std::io::Error| Error::Invalid(format!("rendezvous {addr}: {what}: {e}"));
    let listener = TcpListener::bind(addr).map_err(|e| io("cannot listen", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io("listener", e))?;
    let started = Instant::now();
    let mut joined: Vec<(usize, u64, TcpStream)> = Vec::new();
    while joined.len() + 1 < world {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| io("accept", e))?;
                stream
                    .set_read_timeout(Some(timeout))
                    .map_err(|e| io("accept", e))?;
                let mut hello = [0u8; 16];
                stream
                    .read_exact(&mut hello)
                    .map_err(|e| io("reading a rank's hello", e))?;
                let rank = u64::from_be_bytes(hello[..8].try_into().expect("8 bytes")) as usize;
                let theirs = u64::from_be_bytes(hello[8..].try_into().expect("8 bytes"));
                joined.push((rank, theirs, stream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() > timeout {
                    let mut have: Vec<usize> = joined.iter().map(|j| j.0).collect();
                    have.sort_unstable();
                    return Err(Error::Invalid(format!(
                        "rank 0: only ranks {have:?} of 1..{world} reached the rendezvous {addr} \
                         within {} s",
                        timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(io("accept", e)),
        }
    }
    // Every rank is here: check them all, then answer all (the same verdict for everyone).
    let mut ranks: Vec<usize> = joined.iter().map(|j| j.0).collect();
    ranks.sort_unstable();
    let problem = if ranks != (1..world).collect::<Vec<_>>() {
        Some(format!(
            "rank 0: the joining ranks were {ranks:?}, expected 1..{world} once each"
        ))
    } else {
        joined
            .iter()
            .find(|j| j.1 != fingerprint)
            .map(|j| mismatch(j.0, j.1, fingerprint).to_string())
    };
    for (_, _, stream) in &mut joined {
        let reply = match &problem {
            None => [&[0u8][..], id].concat(),
            Some(m) => [&[1u8][..], &(m.len() as u32).to_be_bytes(), m.as_bytes()].concat(),
        };
        // A rank that already left learns nothing; the others still hear the verdict.
        let _ = stream.write_all(&reply);
    }
    match problem {
        None => Ok(()),
        Some(m) => Err(Error::Invalid(m)),
    }
}

fn fetch(addr: &str, rank: usize, fingerprint: u64, timeout: Duration) -> Result<Vec<u8>> {
    let started = Instant::now();
    let fail = |what: String| Error::Invalid(format!("rank {rank}: rendezvous {addr}: {what}"));
    let mut stream = loop {
        let target = addr
            .to_socket_addrs()
            .map_err(|e| fail(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| fail("resolves to no address".into()))?;
        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
            Ok(s) => break s,
            // Rank 0 may not be listening yet.
            Err(e) if started.elapsed() > timeout => {
                return Err(fail(format!(
                    "rank 0 did not answer within {} s: {e}",
                    timeout.as_secs()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let io = |e: std::io::Error| fail(format!("connection broke: {e}"));
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let hello = [(rank as u64).to_be_bytes(), fingerprint.to_be_bytes()].concat();
    stream.write_all(&hello).map_err(io)?;
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).map_err(io)?;
    if status[0] == 0 {
        let mut id = Vec::new();
        stream.read_to_end(&mut id).map_err(io)?;
        return Ok(id);
    }
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let mut message = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut message).map_err(io)?;
    Err(Error::Invalid(
        String::from_utf8_lossy(&message).into_owned(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 128] = {
        let mut id = [0u8; 128];
        let mut i = 0;
        while i < 128 {
            id[i] = (i * 7) as u8;
            i += 1;
        }
        id
    };

    /// Runs rank 0 and `prints.len() - 1` others concurrently; returns each rank's result.
    fn meet(r: &Rendezvous, prints: &[u64]) -> Vec<Result<Vec<u8>>> {
        let world = prints.len();
        std::thread::scope(|s| {
            let handles: Vec<_> = prints
                .iter()
                .enumerate()
                .map(|(rank, &print)| {
                    s.spawn(move || {
                        r.exchange(
                            rank,
                            world,
                            print,
                            (rank == 0).then_some(&ID[..]),
                            Duration::from_secs(10),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// A TCP rendezvous on a free local port.
    fn local_tcp() -> Rendezvous {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Rendezvous::Tcp(format!("127.0.0.1:{port}"))
    }

    #[test]
    fn parses_files_and_addresses() {
        assert_eq!(
            Rendezvous::parse("node0:29500").unwrap(),
            Rendezvous::Tcp("node0:29500".into())
        );
        assert_eq!(
            Rendezvous::parse("10.0.0.1:80").unwrap(),
            Rendezvous::Tcp("10.0.0.1:80".into())
        );
        assert_eq!(
            Rendezvous::parse("/shared/run/c:1").unwrap(),
            Rendezvous::File("/shared/run/c:1".into())
        );
        assert_eq!(
            Rendezvous::parse("id.txt").unwrap(),
            Rendezvous::File("id.txt".into())
        );
        assert!(Rendezvous::parse("").is_err());
    }

    #[test]
    fn the_file_rendezvous_hands_the_id_to_every_rank_then_goes() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rendezvous::File(dir.path().join("nccl-id"));
        for got in meet(&r, &[9, 9, 9]) {
            assert_eq!(got.unwrap(), ID.to_vec());
        }
        // A left-over file is refused rather than read by the next run's ranks.
        let again = r
            .exchange(0, 2, 9, Some(&ID), Duration::from_secs(1))
            .unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        r.finish().unwrap();
        assert!(!dir.path().join("nccl-id").exists());
    }

    #[test]
    fn the_tcp_rendezvous_hands_the_id_to_every_rank() {
        let r = local_tcp();
        for got in meet(&r, &[5, 5, 5, 5]) {
            assert_eq!(got.unwrap(), ID.to_vec());
        }
    }

    #[test]
    fn a_rank_with_another_config_is_refused_and_so_is_the_run() {
        let r = local_tcp();
        let got = meet(&r, &[5, 5, 6]);
        for (rank, result) in got.iter().enumerate() {
            let e = result.as_ref().unwrap_err().to_string();
            assert!(
                e.contains("rank 2: rank 0 was started with a different training config"),
                "rank {rank}: {e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let r = Rendezvous::File(dir.path().join("nccl-id"));
        let got = meet(&r, &[5, 6]);
        assert!(got[0].is_ok());
        assert!(got[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("different training config"));
    }

    #[test]
    fn a_missing_rank_0_times_out_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rendezvous::File(dir.path().join("nccl-id"));
        let e = r
            .exchange(1, 2, 1, None, Duration::from_millis(200))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("rank 0 did not write the rendezvous file"),
            "{e}"
        );
        let r = local_tcp();
        let e = r
            .exchange(0, 3, 1, Some(&ID), Duration::from_millis(300))
            .unwrap_err();
        assert!(e.to_string().contains("only ranks [] of 1..3"), "{e}");
    }
}
