//! `cometa-bench`: the load generator and the side-by-side runs of the relay against
//! socket.io and a bare tokio-tungstenite ceiling. `scripts/bench.sh` drives it.
//!
//! - [`plan`]: options and the sizes they resolve to (`--smoke` for CI).
//! - [`peer`]: the servers under test as child processes; [`target`]: how the generator
//!   reaches each (connect URL, publish call).
//! - [`client`]: one client socket and its dialect; [`frame`]: the WebSocket frames its read
//!   loop parses; [`fleet`]: N of them.
//! - [`publish`]: paced and closed-loop publishers; [`recorder`]: counts and latencies.
//! - [`scenario`]: fan-out, personal, idle, storm, durable publish — one file each.
//! - [`worker`]: a process holding a share of the idle connections.
//! - [`report`]: medians and the `RESULTS.md` / `results.json` files.
//! - [`soak`]: minutes of churn against one relay, then its memory, fds and deliveries.
//! - [`net`], [`clock`]: source addresses, socket limits, one time base.

mod client;
mod clock;
mod fleet;
mod frame;
mod net;
mod peer;
mod plan;
mod publish;
mod recorder;
mod report;
mod scenario;
mod soak;
mod target;
mod worker;

use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cometa-bench",
    about = "Cometa load generator and side-by-side benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the scenarios against the peers and writes RESULTS.md and results.json.
    Run(Box<plan::Options>),
    /// Churns against one relay for minutes; fails if memory or fds do not come back or a
    /// delivery was lost or repeated. Writes the Soak section of RESULTS.md.
    Soak(soak::SoakArgs),
    /// Holds idle connections for the idle scenario (started by `run`).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    // Fix the time base before anything is stamped.
    let _ = clock::now_us();
    let result = match Cli::parse().command {
        Cmd::Worker(a) => {
            net::raise_nofile();
            worker::run(a).await.map(|()| true)
        }
        Cmd::Run(o) => run(*o).await,
        Cmd::Soak(a) => {
            net::raise_nofile();
            soak::run(a).await
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("cometa-bench: some scenarios failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cometa-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every scenario worked.
async fn run(options: plan::Options) -> anyhow::Result<bool> {
    let nofile = net::raise_nofile();
    let plan = plan::Plan::new(options)?;
    for (what, path) in [
        ("relay", &plan.programs.relay),
        ("ceiling", &plan.programs.ceiling),
    ] {
        if !path.is_file() {
            bail!(
                "no {what} binary at {} (build with --release first)",
                path.display()
            );
        }
    }
    let env = report::machine(&plan);
    eprintln!("open-files limit: {nofile}");
    let mut runs = Vec::new();
    let mut all_ok = true;
    for r in 0..plan.runs {
        eprintln!("== run {} of {}", r + 1, plan.runs);
        // Dropping the run on a signal kills every child (they are `kill_on_drop`).
        let (value, ok) = tokio::select! {
            out = scenario::run_once(&plan, nofile) => out,
            () = interrupted() => bail!("interrupted"),
        };
        all_ok &= ok;
        runs.push(value);
    }
    report::write(&plan, &env, &runs)?;
    Ok(all_ok)
}

async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
