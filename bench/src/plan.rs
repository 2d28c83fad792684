//! What to run and how big: the command-line options and the sizes they resolve to.
//!
//! `--smoke` swaps every default for a tiny one (a CI pass of about 30 s); any size given
//! explicitly wins over both.

use std::path::PathBuf;
use std::time::Duration;

use crate::peer::{FanoutVia, Peer, Programs};

/// `--latency-rates` kept at most (the fan-out also runs at socket.io's half load).
pub const MAX_LATENCY_RATES: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    Fanout,
    /// The fan-out ramp to Wafer tunnels through `/api/v1/broadcast` (the relay only).
    Tunnels,
    Personal,
    Idle,
    Storm,
    Durable,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Tiny sizes for CI: everything once, in about 30 seconds.
    #[arg(long)]
    pub smoke: bool,
    /// Runs of every scenario; the report takes the median of each figure.
    #[arg(long)]
    pub runs: Option<usize>,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fanout,tunnels,personal,idle,storm,durable"
    )]
    pub scenarios: Vec<Scenario>,
    #[arg(long, value_delimiter = ',', default_value = "cometa,socketio,ceiling")]
    pub peers: Vec<Peer>,
    /// Peers the idle scenario measures (it needs worker processes and the most time).
    #[arg(long, value_delimiter = ',', default_value = "cometa")]
    pub idle_peers: Vec<Peer>,
    /// Subscribers of the fan-out channel [default: 1000; smoke 50].
    #[arg(long)]
    pub subscribers: Option<usize>,
    /// Length of one step of the fan-out ramp, in seconds [default: 1.5; smoke 0.3].
    #[arg(long)]
    pub step_secs: Option<f64>,
    /// Most steps of the ramp (the rate doubles each step) [default: 12; smoke 3].
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Length of the half-load latency run, in seconds [default: 4; smoke 0.5].
    #[arg(long)]
    pub latency_secs: Option<f64>,
    /// Share of the best fan-out rate the latency run publishes at [default: 0.5].
    #[arg(long, default_value_t = 0.5)]
    pub latency_load: f64,
    /// Offered deliveries/s at which every peer's fan-out latency is also measured, so the
    /// peers are compared at the same absolute load [default: 30000,300000; smoke 2000].
    #[arg(long, value_delimiter = ',')]
    pub latency_rates: Option<Vec<f64>>,
    /// How the relay fans out: to one channel's subscribers, or a broadcast to every tunnel.
    #[arg(long, value_enum, default_value = "channel")]
    pub fanout_via: FanoutVia,
    /// Users with one device each in the personal scenario [default: 1000; smoke 50].
    #[arg(long)]
    pub personal_users: Option<usize>,
    /// Concurrent HTTP publishers (personal and durable) [default: 64; smoke 8].
    #[arg(long)]
    pub publishers: Option<usize>,
    /// Length of the personal and durable runs, in seconds [default: 4; smoke 1].
    #[arg(long)]
    pub publish_secs: Option<f64>,
    /// Idle connections to hold [default: 20000; smoke 300]; capped by the open-files limit.
    #[arg(long)]
    pub idle_connections: Option<usize>,
    /// Connections of the connect storm [default: 10000; smoke 200].
    #[arg(long)]
    pub storm_connections: Option<usize>,
    /// Padding characters in every published content (the stamp itself is ~40 bytes).
    #[arg(long, default_value_t = 64)]
    pub pad: usize,
    /// Where RESULTS.md and results.json go.
    #[arg(long, default_value = "bench")]
    pub out_dir: PathBuf,
    /// The relay binary [default: next to this binary].
    #[arg(long)]
    pub relay: Option<PathBuf>,
    /// The ceiling binary [default: next to this binary].
    #[arg(long)]
    pub ceiling: Option<PathBuf>,
    /// The socket.io peer's directory (with node_modules installed).
    #[arg(long, default_value = "bench/peers/socketio")]
    pub socketio_dir: PathBuf,
    #[arg(long, default_value = "node")]
    pub node: String,
}

/// Resolved sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub smoke: bool,
    pub runs: usize,
    pub scenarios: Vec<Scenario>,
    pub peers: Vec<Peer>,
    pub idle_peers: Vec<Peer>,
    pub subscribers: usize,
    pub step: Duration,
    pub max_steps: usize,
    pub latency: Duration,
    pub latency_load: f64,
    /// Deliveries/s of the equal-load latency runs, ascending.
    pub latency_rates: Vec<f64>,
    pub fanout_via: FanoutVia,
    pub personal_users: usize,
    pub publishers: usize,
    pub publish: Duration,
    pub idle_connections: usize,
    pub storm_connections: usize,
    pub pad: String,
    pub out_dir: PathBuf,
    pub programs: Programs,
}

impl Plan {
    pub fn new(o: Options) -> anyhow::Result<Self> {
        let pick = |given: Option<usize>, full: usize, smoke: usize| {
            given.unwrap_or(if o.smoke { smoke } else { full })
        };
        let secs = |given: Option<f64>, full: f64, smoke: f64| {
            Duration::from_secs_f64(
                given
                    .unwrap_or(if o.smoke { smoke } else { full })
                    .max(0.05),
            )
        };
        let exe_dir = std::env::current_exe()?
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        Ok(Self {
            smoke: o.smoke,
            runs: pick(o.runs, 3, 1).max(1),
            scenarios: o.scenarios.clone(),
            peers: o.peers.clone(),
            idle_peers: o.idle_peers.clone(),
            subscribers: pick(o.subscribers, 1000, 50).max(1),
            step: secs(o.step_secs, 1.5, 0.3),
            max_steps: pick(o.max_steps, 12, 3).clamp(1, 40),
            latency: secs(o.latency_secs, 4.0, 0.5),
            latency_load: o.latency_load.clamp(0.01, 1.0),
            latency_rates: {
                let default = if o.smoke {
                    vec![2_000.0]
                } else {
                    vec![30_000.0, 300_000.0]
                };
                let mut r: Vec<f64> = o.latency_rates.clone().unwrap_or(default);
                r.retain(|x| x.is_finite() && *x > 0.0);
                r.sort_by(f64::total_cmp);
                r.truncate(MAX_LATENCY_RATES);
                r
            },
            fanout_via: o.fanout_via,
            personal_users: pick(o.personal_users, 1000, 50).max(1),
            publishers: pick(o.publishers, 64, 8).max(1),
            publish: secs(o.publish_secs, 4.0, 1.0),
            idle_connections: pick(o.idle_connections, 20_000, 300).max(1),
            storm_connections: pick(o.storm_connections, 10_000, 200).max(1),
            pad: "x".repeat(o.pad),
            out_dir: o.out_dir,
            programs: Programs {
                relay: o.relay.unwrap_or_else(|| exe_dir.join("cometa-relay")),
                ceiling: o.ceiling.unwrap_or_else(|| exe_dir.join("ceiling")),
                socketio_dir: o.socketio_dir,
                node: o.node,
            },
        })
    }
}
