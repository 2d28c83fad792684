//! The three servers under test, started as child processes, and how the generator reaches
//! each of them (connect URL, publish call).
//!
//! Every peer prints one line naming its address once it serves; we wait for that line, and
//! the child is killed when its [`Running`] is dropped, on every path out, errors included.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server the generator drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// The Cometa relay (auth, durable store, hub).
    Cometa,
    /// socket.io 4 on Node (`bench/peers/socketio`).
    Socketio,
    /// A bare tokio-tungstenite broadcast server (`src/bin/ceiling.rs`).
    Ceiling,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Cometa => "cometa",
            Peer::Socketio => "socketio",
            Peer::Ceiling => "ceiling",
        }
    }
}

/// How the relay fans one message out to many tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FanoutVia {
    /// `POST /api/v1/broadcast` to every live Wafer tunnel.
    Broadcast,
    /// `POST /api/v1/channels/{name}/messages` to the subscribers of one channel, which are
    /// native-dialect connections at `/connect`.
    Channel,
}

/// Where the peers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    pub relay: PathBuf,
    pub ceiling: PathBuf,
    pub socketio_dir: PathBuf,
    pub node: String,
}

/// Start-up settings that differ per scenario.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The relay's per-tunnel queue; the fan-out ramp raises it so saturation shows as
    /// throughput rather than as slow-consumer closes.
    pub outbound_queue: Option<usize>,
    /// `--anonymous`: visitors without credentials get a session (the soak's anonymous logins).
    pub anonymous: bool,
}

/// Fixed key of the throw-away relays the bench starts (they listen on loopback only).
pub const API_KEY: &str = "cometa-bench-api-key-0123456789";

/// A started peer; killed on drop.
pub struct Running {
    pub peer: Peer,
    pub addr: SocketAddr,
    pub pid: u32,
    child: Child,
    dir: PathBuf,
}

impl Running {
    pub async fn start(
        peer: Peer,
        programs: &Programs,
        opts: &StartOptions,
    ) -> anyhow::Result<Self> {
        let dir = scratch_dir(peer)?;
        let log = std::fs::File::create(dir.join("stderr.log"))?;
        let (mut cmd, prefix) = match peer {
            Peer::Cometa => {
                let mut c = Command::new(&programs.relay);
                c.arg("--listen")
                    .arg("127.0.0.1:0")
                    .arg("--data-dir")
                    .arg(dir.join("data"))
                    .arg("--api-key")
                    .arg(API_KEY)
                    .arg("--max-connections")
                    .arg("1000000")
                    // Each fleet holds up to 10,000 sockets from one loopback source address.
                    .arg("--max-connections-per-address")
                    .arg("1000000")
                    // Info logs a line per login; warnings (slow consumers) still show.
                    .env("RUST_LOG", "warn");
                if let Some(q) = opts.outbound_queue {
                    c.arg("--outbound-queue").arg(q.to_string());
                }
                if opts.anonymous {
                    // Every visitor of the load comes from one loopback address, where the
                    // per-address limit for anonymous logins is meant for one real client.
                    c.arg("--anonymous")
                        .arg("--anonymous-logins-per-address")
                        .arg("1000000");
                }
                (c, "cometa-relay listening on http://")
            }
            Peer::Socketio => {
                let mut c = Command::new(&programs.node);
                c.arg(programs.socketio_dir.join("server.js"))
                    .env("PORT", "0");
                (c, "socketio listening on http://")
            }
            Peer::Ceiling => {
                let mut c = Command::new(&programs.ceiling);
                c.arg("--listen").arg("127.0.0.1:0");
                (c, "ceiling listening on http://")
            }
        };
        // The open-files limit raised in `main` is inherited here.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} ({cmd:?})", peer.name()))?;
        let pid = child.id().context("peer exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest
                        .trim()
                        .parse::<SocketAddr>()
                        .context("bad address line");
                }
            }
            bail!("{} exited before serving", peer.name())
        })
        .await;
        let addr = match addr {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(e.context(log_tail(&dir))),
            Err(_) => bail!(
                "{} did not start within 30 s; {}",
                peer.name(),
                log_tail(&dir)
            ),
        };
        // Keep the pipe drained so a chatty peer never blocks on a full stdout.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            peer,
            addr,
            pid,
            child,
            dir,
        })
    }

    /// Resident memory of the peer process, from `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid)
    }

    /// CPU time the peer has used so far, in µs (see [`cpu_us`]).
    pub fn cpu_us(&self) -> anyhow::Result<u64> {
        cpu_us(&self.pid.to_string())
    }

    /// Open file descriptors of the peer process, from `/proc/<pid>/fd`.
    pub fn fds(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid))?.count())
    }

    /// Bytes the relay's store takes on disk (every file under its data directory).
    pub fn store_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            match std::fs::read_dir(p) {
                Ok(entries) => entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum(),
                Err(_) => 0,
            }
        }
        walk(&self.dir.join("data"))
    }

    /// Kills the peer and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// What `/proc/<pid>/stat` counts CPU time in: USER_HZ ticks, which Linux fixes at 100
/// (`sysconf(_SC_CLK_TCK)`); calling `sysconf` would need `unsafe`, which the workspace forbids.
const TICKS_PER_S: u64 = 100;

/// CPU time (user + system, every thread including exited ones, not children) of process
/// `pid` (a number, or `self`) so far, in µs; resolution 1 / [`TICKS_PER_S`].
pub fn cpu_us(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = stat_cpu_ticks(&stat).context("unexpected /proc/<pid>/stat")?;
    Ok(ticks * (1_000_000 / TICKS_PER_S))
}

/// utime + stime (fields 14 and 15 of proc(5)); the command name (field 2) may hold spaces
/// and parentheses, so the fields are counted from the last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let mut fields = after_comm.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn scratch_dir(peer: Peer) -> anyhow::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cometa-bench-{}-{}-{}",
        std::process::id(),
        peer.name(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("its stderr ends with:\n{}", tail.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_after_an_awkward_name() {
        let stat = "4242 (tokio) (x y)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    1234 567 8 9 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(stat_cpu_ticks("1 (short) S 1 2"), None);
        assert!(cpu_us("self").is_ok());
    }
}
