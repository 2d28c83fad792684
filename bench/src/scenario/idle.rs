//! Idle: as many authenticated idle connections as the machine takes, held by worker
//! processes on separate source addresses; reports the server's resident memory per
//! connection (VmRSS with the sockets open minus VmRSS after the logins, divided by the
//! number of sockets).
//!
//! Both the server and each worker need one file per socket, so the count is capped by the
//! open-files limit this process could reach (the peer inherits it).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::net;
use crate::peer::{Peer, Running, StartOptions};
use crate::plan::Plan;

/// Files the server needs besides its sockets (store, listener, epoll, logs...).
const RESERVE: u64 = 256;
/// Connections one worker holds at most.
const PER_WORKER: usize = 8_000;
/// Longest wait for a worker phase (logins or connects).
const PHASE: Duration = Duration::from_secs(180);
/// Time given to the server to settle before reading its memory.
const SETTLE: Duration = Duration::from_secs(2);

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    async fn expect(&mut self, word: &str) -> anyhow::Result<Vec<u64>> {
        let line = tokio::time::timeout(PHASE, self.lines.next_line())
            .await
            .with_context(|| format!("worker gave no `{word}` in time"))??
            .with_context(|| format!("worker exited before `{word}`"))?;
        let mut parts = line.split_whitespace();
        if parts.next() != Some(word) {
            bail!("worker said {line:?}, expected `{word}`");
        }
        Ok(parts.filter_map(|p| p.parse().ok()).collect())
    }

    async fn say(&mut self, word: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{word}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }
}

pub async fn run(plan: &Plan, peer: Peer, nofile: u64) -> anyhow::Result<Value> {
    let cap = usize::try_from(nofile.saturating_sub(RESERVE))?.max(1);
    let n = plan.idle_connections.min(cap);
    let per_worker = PER_WORKER.min(cap);
    let running = Running::start(peer, &plan.programs, &StartOptions::default()).await?;
    let exe = std::env::current_exe()?;
    let mut workers = Vec::new();
    let mut first = 0;
    while first < n {
        let count = per_worker.min(n - first);
        let source = net::take_sources(count)?[0];
        let mut child = Command::new(&exe)
            .arg("worker")
            .args(["--peer", peer.name()])
            .args(["--addr", &running.addr.to_string()])
            .args(["--first", &first.to_string()])
            .args(["--count", &count.to_string()])
            .args(["--source", &source.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a worker")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        workers.push(Worker {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        });
        first += count;
    }
    let mut logged_in = 0;
    for w in &mut workers {
        logged_in += w.expect("logged-in").await?.first().copied().unwrap_or(0);
    }
    tokio::time::sleep(SETTLE).await;
    let before = running.rss_bytes()?;
    let start = Instant::now();
    for w in &mut workers {
        w.say("connect").await?;
    }
    let (mut connected, mut failed) = (0, 0);
    for w in &mut workers {
        let counts = w.expect("connected").await?;
        connected += counts.first().copied().unwrap_or(0);
        failed += counts.get(1).copied().unwrap_or(0);
    }
    let connect_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = running.rss_bytes()?;
    for w in &mut workers {
        let _ = w.say("quit").await;
    }
    for mut w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w.child.wait()).await;
    }
    running.stop().await;
    if connected == 0 {
        bail!("no connection was opened");
    }
    Ok(json!({
        "requested": plan.idle_connections,
        "nofile_limit": nofile,
        "logged_in": logged_in,
        "connections": connected,
        "failed": failed,
        "connect_seconds": connect_secs,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_bytes_per_connection": (after.saturating_sub(before) as f64 / connected as f64).round(),
    }))
}
