//! A worker process of the idle scenario: holds a share of the connections from its own
//! source address, because one process may not open more files than its hard limit allows.
//!
//! It talks to the parent in lines: it prints `logged-in <n>`, waits for `connect`, prints
//! `connected <ok> <failed>`, then holds its sockets until `quit`, end of input, or
//! [`MAX_HOLD`]. Between the two prints the parent reads the server's memory.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fleet::Fleet;
use crate::peer::{FanoutVia, Peer};
use crate::target::{Target, http_client};

/// A worker never outlives this, whatever its parent does.
const MAX_HOLD: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub peer: Peer,
    #[arg(long)]
    pub addr: SocketAddr,
    /// Number of this worker's first user (users are `i<number>`).
    #[arg(long)]
    pub first: usize,
    #[arg(long)]
    pub count: usize,
    #[arg(long)]
    pub source: Ipv4Addr,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

pub async fn run(a: WorkerArgs) -> anyhow::Result<()> {
    let http = || http_client(a.concurrency, Some(a.source));
    let target = Target::at(a.peer, a.addr, FanoutVia::Broadcast, http()?);
    let users = (a.first..a.first + a.count)
        .map(|i| format!("i{i}"))
        .collect();
    let mut fleet = Fleet::with_sources(target, users, vec![a.source]);
    let slots: Vec<usize> = (0..a.count).collect();
    let logins = fleet.login(&slots, a.concurrency).await;
    fleet.set_http(http()?);
    println!("logged-in {}", logins.len());

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let deadline = tokio::time::Instant::now() + MAX_HOLD;
    let line = tokio::time::timeout_at(deadline, stdin.next_line())
        .await
        .context("no word from the parent")??;
    if line.as_deref() != Some("connect") {
        bail!("expected `connect`, got {line:?}");
    }
    let urls = fleet.urls(logins, a.concurrency).await;
    let failed = fleet
        .connect(urls, a.concurrency, Duration::from_secs(30))
        .await;
    fleet.set_http(http()?);
    let ok = fleet.alive();
    println!("connected {ok} {}", a.count - ok.min(a.count));
    if failed > 0 {
        eprintln!("worker {}: {failed} connections failed", a.source);
    }

    // Hold until told to stop; sockets keep answering pings in their tasks meanwhile.
    let _ = tokio::time::timeout_at(deadline, async {
        while let Ok(Some(line)) = stdin.next_line().await {
            if line == "quit" {
                break;
            }
        }
    })
    .await;
    drop(fleet);
    Ok(())
}
