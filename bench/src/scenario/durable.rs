//! Durable publish: how many personal messages per second the relay's API accepts with its
//! default store (SQLite, group commit, fsync), from many concurrent keep-alive HTTP clients.
//! The users are offline, so this measures the store path, not delivery.

use std::sync::Arc;

use anyhow::bail;
use serde_json::{Value, json};

use crate::peer::{FanoutVia, Peer, Running, StartOptions};
use crate::plan::Plan;
use crate::publish::{closed_loop, secs_between};
use crate::recorder::percentiles;
use crate::target::{Target, http_client};

/// Distinct (offline) recipients.
const USERS: usize = 10_000;

pub async fn run(plan: &Plan, peer: Peer) -> anyhow::Result<Value> {
    if peer != Peer::Cometa {
        bail!("durable publish is measured on the relay only");
    }
    let running = Running::start(peer, &plan.programs, &StartOptions::default()).await?;
    let http = http_client(plan.publishers * 2, None)?;
    let target = Target::new(&running, FanoutVia::Broadcast, http);
    let users: Arc<Vec<String>> = Arc::new((0..USERS).map(|i| format!("d{i}")).collect());
    let pad: Arc<str> = plan.pad.as_str().into();
    let (p, api) = closed_loop(&target, 0, users, plan.publishers, plan.publish, &pad).await;
    if let Some(e) = &p.first_error {
        eprintln!("  publish failed: {e}");
    }
    let elapsed = secs_between(p.start_us, p.end_us);
    running.stop().await;
    Ok(json!({
        "publishers": plan.publishers,
        "published": p.ok,
        "errors": p.errors,
        "publishes_per_s": (p.ok as f64 / elapsed.max(1e-6)).round(),
        "api_latency": percentiles(&api),
    }))
}
