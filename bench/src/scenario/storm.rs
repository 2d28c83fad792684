//! Connect storm: N clients connect at the same moment; how long until every one of them is
//! connected and ready (a round trip through the server, see `client`).
//!
//! Logins and the relay's single-use tickets are fetched first, 64 at a time: the storm
//! itself is the WebSocket connects, which is what a server restart causes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::peer::{Peer, Running, StartOptions};
use crate::plan::Plan;
use crate::target::{Target, http_client};

/// Longest wait for one connection of the storm.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(plan: &Plan, peer: Peer) -> anyhow::Result<Value> {
    let running = Running::start(peer, &plan.programs, &StartOptions::default()).await?;
    let target = Target::new(&running, plan.fanout_via, http_client(64, None)?);
    let n = plan.storm_connections;
    let users = (0..n).map(|i| format!("s{i}")).collect();
    let mut fleet = Fleet::new(target, users)?;
    let slots: Vec<usize> = (0..n).collect();
    let urls = fleet.prepare(&slots, 64).await;
    let prepared = urls.len();
    let start = Instant::now();
    let failed = fleet.connect(urls, n, CONNECT_TIMEOUT).await;
    let seconds = start.elapsed().as_secs_f64();
    let connected = fleet.alive();
    drop(fleet);
    running.stop().await;
    Ok(json!({
        "connections": n,
        "connected": connected,
        "failed": failed + (n - prepared),
        "seconds": seconds,
        "connections_per_s": (connected as f64 / seconds.max(1e-6)).round(),
    }))
}
