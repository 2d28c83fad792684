//! Personal messages: many users with one device each, the back end sending to random users
//! from many concurrent HTTP clients. On the relay every message is stored before the API
//! answers; the peers only forward. Reports delivered messages/s and publish → callback
//! latency at that (saturating) load.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::peer::{FanoutVia, Peer, Running, StartOptions};
use crate::plan::Plan;
use crate::publish::{closed_loop, secs_between, wait_until};
use crate::recorder::percentiles;
use crate::target::{Target, http_client};

pub async fn run(plan: &Plan, peer: Peer) -> anyhow::Result<Value> {
    let running = Running::start(peer, &plan.programs, &StartOptions::default()).await?;
    let http = http_client(plan.publishers * 2, None)?;
    let target = Target::new(&running, FanoutVia::Broadcast, http);
    let users: Vec<String> = (0..plan.personal_users).map(|i| format!("p{i}")).collect();
    let mut fleet = Fleet::new(target.clone(), users.clone())?;
    fleet.fill(64).await?;
    let rec = fleet.recorder.clone();
    rec.measure_latency_of(0);
    let pad: Arc<str> = plan.pad.as_str().into();
    let (p, api) = closed_loop(
        &target,
        0,
        Arc::new(users),
        plan.publishers,
        plan.publish,
        &pad,
    )
    .await;
    if let Some(e) = &p.first_error {
        eprintln!("  publish failed: {e}");
    }
    wait_until(std::time::Duration::from_secs(5), || {
        rec.received(0) >= p.ok
    })
    .await;
    let received = rec.received(0);
    let elapsed = secs_between(p.start_us, rec.last_us(0).max(p.end_us));
    let lat = percentiles(&rec.latency());
    drop(fleet);
    running.stop().await;
    Ok(json!({
        "users": plan.personal_users,
        "publishers": plan.publishers,
        "published": p.ok,
        "publish_errors": p.errors,
        "lost": p.ok.saturating_sub(received),
        "delivered_per_s": (received as f64 / elapsed.max(1e-6)).round(),
        "latency": lat,
        "api_latency": percentiles(&api),
    }))
}
