//! Fan-out: N subscribers of one channel (or, on the relay, N Wafer tunnels and a broadcast), the back end
//! publishing at a rate that doubles every step until delivery falls behind. Reports the
//! best delivered messages/s, then the publish → callback latency at half of it and at the same
//! absolute offered rates for every peer (`--latency-rates`, and socket.io's own half load), so
//! peers are compared at equal load. Every step also reports the CPU time the server and the
//! generator spent per delivery.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::peer::{self, FanoutVia, Peer, Running, StartOptions};
use crate::plan::Plan;
use crate::publish::{paced, secs_between, wait_until};
use crate::recorder::percentiles;
use crate::target::{CHANNEL, STORED_CHANNEL, Target, http_client};

/// First step offers this many deliveries per second.
const START_DELIVERIES_PER_S: f64 = 10_000.0;
/// A step that delivers less than this share of what it offered has fallen behind...
const KEEP_UP: f64 = 0.8;
/// ...and the ramp ends there unless it still beat the best step so far by this factor
/// (one step past the knee says little on 2 shared cores; two say more).
const STILL_GROWING: f64 = 1.1;
/// Publish requests outstanding at most.
const IN_FLIGHT: usize = 64;
/// The relay's per-tunnel queue for this scenario: deep enough that overload shows as
/// throughput, not as slow-consumer closes (the default 1024 is about policy, not speed).
const RELAY_QUEUE: usize = 65_536;

/// CPU time used so far by the server and by this generator (µs; `None` if unreadable).
#[derive(Clone, Copy)]
struct CpuMark {
    server: Option<u64>,
    generator: Option<u64>,
}

impl CpuMark {
    fn now(running: &Running) -> Self {
        Self {
            server: running.cpu_us().ok(),
            generator: peer::cpu_us("self").ok(),
        }
    }

    /// Server and generator CPU ns per delivery between `self` and `later`.
    fn per_delivery(self, later: CpuMark, deliveries: u64) -> (Value, Value) {
        let ns = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if deliveries > 0 => {
                json!((b.saturating_sub(a) as f64 * 1000.0 / deliveries as f64).round())
            }
            _ => Value::Null,
        };
        (
            ns(self.server, later.server),
            ns(self.generator, later.generator),
        )
    }
}

/// Deliveries/s at which every peer's latency is measured besides its own half load.
#[derive(Debug, Clone, Default)]
pub struct EqualLoads {
    /// From `--latency-rates`, ascending.
    pub rates: Vec<f64>,
    /// socket.io's half load, once socket.io has run: the load its users see.
    pub socketio_half: Option<f64>,
}

impl EqualLoads {
    /// `(label, deliveries/s)`, ascending by rate.
    fn list(&self) -> Vec<(String, f64)> {
        let mut all: Vec<(String, f64)> = self.rates.iter().map(|&r| (label(r), r)).collect();
        if let Some(r) = self.socketio_half {
            all.push(("socketio_half".into(), r.round()));
        }
        all.sort_by(|a, b| a.1.total_cmp(&b.1));
        all.truncate(MAX_EQUAL_LOADS);
        all
    }
}

/// 30000 → "30k"; the key of an equal-load run in results.json.
pub fn label(rate: f64) -> String {
    if rate >= 1000.0 && (rate % 1000.0) == 0.0 {
        format!("{}k", rate / 1000.0)
    } else {
        format!("{}", rate.round())
    }
}

/// The ramp and latency run for `peer`; on the relay `via` picks channel subscribers or Wafer
/// tunnels (a broadcast), the peers ignore it.
pub async fn run(
    plan: &Plan,
    peer: Peer,
    via: FanoutVia,
    equal: &EqualLoads,
) -> anyhow::Result<Value> {
    let opts = StartOptions {
        outbound_queue: Some(RELAY_QUEUE),
        ..StartOptions::default()
    };
    let running = Running::start(peer, &plan.programs, &opts).await?;
    let target = Target::new(&running, via, http_client(IN_FLIGHT * 2, None)?);
    // The relay's channels are stored by default; the peers store nothing. The headline
    // compares like with like on a live-only channel, then the relay's default (stored,
    // fsync before send) is measured on a second channel the same sockets subscribe to.
    let stored = peer == Peer::Cometa && via == FanoutVia::Channel;
    if stored {
        target.make_live_only(CHANNEL).await?;
    }
    let users = (0..plan.subscribers).map(|i| format!("f{i}")).collect();
    let mut fleet = Fleet::new(target.clone(), users)?;
    fleet.fill(64).await?;
    let mut result = measure(
        plan,
        &running,
        &mut fleet,
        &target,
        LIVE,
        START_DELIVERIES_PER_S,
    )
    .await?;
    let best = result["delivered_per_s"].as_f64().unwrap_or(0.0);
    result["equal_load"] = at_equal_loads(plan, &running, &mut fleet, &target, best, equal).await?;
    if stored {
        let best = result["delivered_per_s"].as_f64().unwrap_or(0.0);
        let start = (best / 8.0).max(START_DELIVERIES_PER_S);
        let on_stored = target.on_channel(STORED_CHANNEL);
        let s = measure(plan, &running, &mut fleet, &on_stored, STORED, start).await?;
        result["stored_channel"] = s;
    }
    drop(fleet);
    running.stop().await;
    Ok(result)
}

/// Step numbers of one ramp and its latency run in the shared recorder.
struct Steps {
    first: usize,
    latency: usize,
}

const LIVE: Steps = Steps {
    first: 0,
    latency: 95,
};
const STORED: Steps = Steps {
    first: 44,
    latency: 94,
};
/// The equal-load runs take steps `EQUAL_FIRST..EQUAL_FIRST + MAX_EQUAL_LOADS`.
const EQUAL_FIRST: usize = 84;
const MAX_EQUAL_LOADS: usize = crate::plan::MAX_LATENCY_RATES + 1;

/// The ramp from `start` deliveries/s, then the latency run at `plan.latency_load` of the best.
async fn measure(
    plan: &Plan,
    running: &Running,
    fleet: &mut Fleet,
    target: &Target,
    steps_at: Steps,
    start: f64,
) -> anyhow::Result<Value> {
    let n = fleet.alive() as f64;
    let rec = fleet.recorder.clone();

    let mut rate = (start / n).max(1.0);
    let mut best = 0.0f64;
    let mut best_cpu = (Value::Null, Value::Null);
    let mut steps = Vec::new();
    let mut saturated = false;
    let last = (steps_at.first + plan.max_steps).min(steps_at.latency);
    for step in steps_at.first..last {
        let closed_before = rec.closed();
        let Timed {
            p,
            expected,
            received,
            server_cpu,
            generator_cpu,
        } = timed(plan, running, fleet, target, step, rate, plan.step).await;
        let elapsed = secs_between(p.start_us, rec.last_us(step).max(p.end_us));
        let delivered = received as f64 / elapsed.max(1e-6);
        let growing = delivered > STILL_GROWING * best;
        if delivered > best {
            best_cpu = (server_cpu.clone(), generator_cpu.clone());
        }
        best = best.max(delivered);
        let closed = rec.closed() - closed_before;
        steps.push(json!({
            "publishes_per_s": rate,
            "offered_per_s": rate * n,
            "delivered_per_s": delivered.round(),
            "lost": expected.saturating_sub(received),
            "publish_errors": p.errors,
            "closed": closed,
            "server_cpu_ns_per_delivery": server_cpu,
            "generator_cpu_ns_per_delivery": generator_cpu,
        }));
        if let Some(e) = &p.first_error {
            eprintln!("  step {step}: publish failed: {e}");
        }
        let behind = delivered < KEEP_UP * rate * n;
        if behind {
            saturated = true;
        }
        if (behind && !growing) || received < expected || closed > 0 || p.errors > 0 {
            saturated = true;
            break;
        }
        rate *= 2.0;
    }

    let half = latency_run(
        plan,
        running,
        fleet,
        target,
        steps_at.latency,
        best * plan.latency_load,
    )
    .await?;
    let n = fleet.alive() as f64;
    Ok(json!({
        "subscribers": n,
        "delivered_per_s": best.round(),
        "saturated": saturated,
        // Of the best step.
        "server_cpu_ns_per_delivery": best_cpu.0,
        "generator_cpu_ns_per_delivery": best_cpu.1,
        "steps": steps,
        "half_load": half,
    }))
}

/// The latency runs at the same offered rates for every peer. A rate above what this peer
/// delivered at its best is not run: it would measure a queue growing without bound.
async fn at_equal_loads(
    plan: &Plan,
    running: &Running,
    fleet: &mut Fleet,
    target: &Target,
    best: f64,
    equal: &EqualLoads,
) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for (i, (key, rate)) in equal.list().into_iter().enumerate() {
        let v = if rate <= best {
            latency_run(plan, running, fleet, target, EQUAL_FIRST + i, rate).await?
        } else {
            json!({ "delivered_per_s": rate, "over_capacity": true })
        };
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}

/// Publishes at `deliveries_per_s` for `plan.latency` and records every delivery's latency.
async fn latency_run(
    plan: &Plan,
    running: &Running,
    fleet: &mut Fleet,
    target: &Target,
    step: usize,
    deliveries_per_s: f64,
) -> anyhow::Result<Value> {
    // Overload may have closed slow sockets (the relay's policy); reopen them first.
    fleet.fill(64).await?;
    let n = fleet.alive() as f64;
    let rate = (deliveries_per_s / n).max(1.0);
    fleet.recorder.measure_latency_of(step);
    let Timed {
        p,
        expected,
        received,
        server_cpu,
        generator_cpu,
    } = timed(plan, running, fleet, target, step, rate, plan.latency).await;
    Ok(json!({
        "publishes_per_s": rate,
        "delivered_per_s": (rate * n).round(),
        "lost": expected.saturating_sub(received),
        "publish_errors": p.errors,
        "latency": percentiles(&fleet.recorder.latency()),
        "server_cpu_ns_per_delivery": server_cpu,
        "generator_cpu_ns_per_delivery": generator_cpu,
    }))
}

/// What one timed publishing run gave.
struct Timed {
    p: crate::publish::Published,
    /// Deliveries due: accepted publishes × live subscribers.
    expected: u64,
    received: u64,
    server_cpu: Value,
    generator_cpu: Value,
}

/// Publishes `rate` times a second for `length` as step `step`, waits (bounded) for every
/// delivery, and measures the CPU both sides spent.
async fn timed(
    plan: &Plan,
    running: &Running,
    fleet: &Fleet,
    target: &Target,
    step: usize,
    rate: f64,
    length: std::time::Duration,
) -> Timed {
    let n = fleet.alive() as u64;
    let rec = &fleet.recorder;
    let pad: Arc<str> = plan.pad.as_str().into();
    let drain = plan.step * 4 + std::time::Duration::from_secs(2);
    let count = ((rate * length.as_secs_f64()) as u64).max(2);
    let cpu_before = CpuMark::now(running);
    let p = paced(target, step, rate, count, IN_FLIGHT, &pad).await;
    let expected = p.ok * n;
    wait_until(drain, || rec.received(step) >= expected).await;
    let received = rec.received(step);
    let (server_cpu, generator_cpu) = cpu_before.per_delivery(CpuMark::now(running), received);
    Timed {
        p,
        expected,
        received,
        server_cpu,
        generator_cpu,
    }
}
