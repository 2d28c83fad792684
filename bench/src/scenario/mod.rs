//! The scenarios, each in its own file, and the loop that runs them for every peer.
//!
//! Every (scenario, peer) pair gets a fresh peer process, so one scenario's leftovers (memory,
//! sockets in TIME_WAIT, stored rows) never weigh on the next. Peers take turns within each
//! run, so a noisy moment on a shared machine hits all of them alike.

pub mod durable;
pub mod fanout;
pub mod idle;
pub mod personal;
pub mod storm;

use serde_json::{Map, Value, json};

use crate::peer::{FanoutVia, Peer};
use crate::plan::{Plan, Scenario};

/// Runs every selected scenario once; returns `{scenario: {peer: result | {"error"}}}` and
/// whether everything worked.
pub async fn run_once(plan: &Plan, nofile: u64) -> (Value, bool) {
    let mut all = Map::new();
    let mut ok = true;
    // Shared by the scenarios: the Wafer tunnels' run is timed at the loads the fan-out used.
    let mut equal = fanout::EqualLoads {
        rates: plan.latency_rates.clone(),
        socketio_half: None,
    };
    for &scenario in &plan.scenarios {
        let peers: Vec<Peer> = match scenario {
            Scenario::Idle => plan.idle_peers.clone(),
            // The durable store and Wafer tunnels are the relay's alone.
            Scenario::Durable | Scenario::Tunnels => vec![Peer::Cometa],
            _ => plan.peers.clone(),
        };
        let mut by_peer = Map::new();
        let mut peers = peers;
        if scenario == Scenario::Fanout {
            // socket.io first: its own half load is one of the loads every peer is timed at.
            peers.sort_by_key(|p| *p != Peer::Socketio);
        }
        for peer in peers {
            eprintln!("{} / {}", name(scenario), peer.name());
            let result = match scenario {
                Scenario::Fanout => fanout::run(plan, peer, plan.fanout_via, &equal).await,
                Scenario::Tunnels => fanout::run(plan, peer, FanoutVia::Broadcast, &equal).await,
                Scenario::Personal => personal::run(plan, peer).await,
                Scenario::Idle => idle::run(plan, peer, nofile).await,
                Scenario::Storm => storm::run(plan, peer).await,
                Scenario::Durable => durable::run(plan, peer).await,
            };
            let mut value = result.unwrap_or_else(|e| {
                ok = false;
                eprintln!("  failed: {e:#}");
                json!({ "error": format!("{e:#}") })
            });
            if scenario == Scenario::Fanout && peer == Peer::Socketio {
                equal.socketio_half = value["half_load"]["delivered_per_s"].as_f64();
                // socket.io's own half-load run is its figure at that load.
                if value["equal_load"].is_object() {
                    value["equal_load"]["socketio_half"] = value["half_load"].clone();
                }
            }
            eprintln!("  {value}");
            by_peer.insert(peer.name().into(), value);
        }
        all.insert(name(scenario).into(), Value::Object(by_peer));
    }
    (Value::Object(all), ok)
}

pub fn name(s: Scenario) -> &'static str {
    match s {
        Scenario::Fanout => "fanout",
        Scenario::Tunnels => "tunnel_fanout",
        Scenario::Personal => "personal",
        Scenario::Idle => "idle",
        Scenario::Storm => "storm",
        Scenario::Durable => "durable_publish",
    }
}
