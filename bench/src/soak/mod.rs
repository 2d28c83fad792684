//! `cometa-bench soak`: minutes of churn against a relay it starts, then whether the relay
//! came back to where it started and lost or repeated nothing.
//!
//! Load (all on loopback, every loop bounded): back-end and client publishes to one stored
//! channel and personal messages; subscribers that stay connected the whole time; devices
//! that reload (disconnect, reconnect with their stored positions, ack); connect storms;
//! subscribe/unsubscribe; anonymous logins (the relay runs with `--anonymous`), some opening a
//! Wafer tunnel; password logins.
//!
//! Verdict: RSS and open fds after a settle are within [`TOLERANCE`] of the start (same
//! connected population: subscribers and devices), and no receiver lost or got twice any
//! message. The start is read after a warm-up of the same churn (`--warmup-secs`): bounded
//! caches (SQLite's page cache, the allocator's arenas, the password hashers' working memory,
//! table capacities) fill on first use, and only growth past that steady state is a leak. The
//! cold reading is reported too. The figures go into the Soak section of `RESULTS.md`.

mod churn;
mod device;
mod ledger;
mod native;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};

use crate::peer::{FanoutVia, Peer, Programs, Running, StartOptions};
use crate::target::{Target, http_client};
use ledger::{Shared, Totals, lock};

/// The stored channel every publisher writes to.
pub const CHANNEL: &str = "web_soak";
pub const PASSWORD_USERS: usize = 4;
/// How far RSS and fds may end above their start.
const TOLERANCE: f64 = 0.10;
/// Quiet time before each reading, so freed memory and closing sockets settle.
const SETTLE: Duration = Duration::from_secs(5);
/// Longest wait for the receivers to catch up once publishing stopped.
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long the churn runs.
    #[arg(long, env = "SOAK_SECS", default_value_t = 600)]
    pub secs: u64,
    /// The relay binary (default: next to this program).
    #[arg(long)]
    pub relay: Option<PathBuf>,
    /// Where the Soak section is written (other sections are kept).
    #[arg(long, default_value = "bench/RESULTS.md")]
    pub results: PathBuf,
    /// Subscribers that stay connected.
    #[arg(long, default_value_t = 20)]
    pub subscribers: usize,
    /// Devices that reload, one user each.
    #[arg(long, default_value_t = 20)]
    pub devices: usize,
    /// Churn before the start reading, so bounded caches are warm (see the module doc).
    #[arg(long, default_value_t = 60)]
    pub warmup_secs: u64,
    /// Sockets per connect storm.
    #[arg(long, default_value_t = 200)]
    pub storm: usize,
    /// Milliseconds between password logins (Argon2 on the relay); 0 leaves them out, to
    /// tell their share of the memory from the rest.
    #[arg(long, default_value_t = 1000)]
    pub password_every_ms: u64,
}

/// What every loop shares.
pub struct Ctx {
    pub target: Target,
    pub counts: churn::Counts,
    /// The channel's highest seq any publish was answered with.
    pub channel_top: AtomicU64,
    /// The same per device user.
    pub personal_top: Vec<AtomicU64>,
}

pub fn device_user(i: usize) -> String {
    format!("soak_d{i}")
}

pub fn password_user(i: usize) -> (String, String) {
    (
        format!("soak_p{i}"),
        format!("soak-password-{i}-0123456789"),
    )
}

/// A reading of the relay process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Reading {
    pub rss_bytes: u64,
    pub fds: usize,
    pub store_bytes: u64,
}

fn read(r: &Running) -> anyhow::Result<Reading> {
    Ok(Reading {
        rss_bytes: r.rss_bytes()?,
        fds: r.fds()?,
        store_bytes: r.store_bytes(),
    })
}

/// Runs the soak; returns whether it passed.
pub async fn run(args: SoakArgs) -> anyhow::Result<bool> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .context("no directory for this program")?
        .to_path_buf();
    let programs = Programs {
        relay: args
            .relay
            .clone()
            .unwrap_or_else(|| exe_dir.join("cometa-relay")),
        ceiling: PathBuf::new(),
        socketio_dir: PathBuf::new(),
        node: String::new(),
    };
    let opts = StartOptions {
        anonymous: true,
        ..StartOptions::default()
    };
    let running = Running::start(Peer::Cometa, &programs, &opts).await?;
    eprintln!("soak: relay pid {} on {}", running.pid, running.addr);
    let target = Target::new(&running, FanoutVia::Channel, http_client(16, None)?);
    setup(&target, &args).await?;
    let ctx = Arc::new(Ctx {
        target,
        counts: churn::Counts::default(),
        channel_top: AtomicU64::new(0),
        personal_top: (0..args.devices).map(|_| AtomicU64::new(0)).collect(),
    });

    // The steady population: connected at both readings.
    let (phase_tx, phase_rx) = watch::channel(device::Phase::Hold);
    let mut subscribers = Vec::new();
    for _ in 0..args.subscribers {
        let l = ledger::shared();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(device::subscriber(
            ctx.clone(),
            l.clone(),
            phase_rx.clone(),
            ready_tx,
        ));
        ready_rx.await.context("a subscriber could not start")??;
        subscribers.push((l, task));
    }
    let mut devices = Vec::new();
    for i in 0..args.devices {
        let (personal, channel) = (ledger::shared(), ledger::shared());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(device::device(
            ctx.clone(),
            i,
            personal.clone(),
            channel.clone(),
            phase_rx.clone(),
            ready_tx,
        ));
        ready_rx.await.context("a device could not start")??;
        devices.push((personal, channel, task));
    }
    sleep(SETTLE).await;
    let cold = read(&running)?;
    eprintln!("soak: cold {cold:?}; warming up for {} s", args.warmup_secs);
    // The steady population stays put while the rest of the churn warms the relay up.
    churn(&ctx, args.warmup_secs, &args).await;
    sleep(SETTLE).await;
    let start = read(&running)?;
    eprintln!("soak: start {start:?}; churning for {} s", args.secs);

    let _ = phase_tx.send(device::Phase::Churn);
    churn(&ctx, args.secs, &args).await;

    // Devices reconnect one last time and stay; everyone catches up with the tops.
    let _ = phase_tx.send(device::Phase::Hold);
    let channel_top = ctx.channel_top.load(Ordering::Relaxed);
    let drained = drain(&ctx, &subscribers, &devices, channel_top).await;
    sleep(SETTLE).await;
    let end = read(&running)?;
    eprintln!("soak: end {end:?}");
    let _ = phase_tx.send(device::Phase::Stop);

    let mut subs = Totals::default();
    for (l, task) in subscribers {
        let _ = tokio::time::timeout(native::WAIT, task).await;
        let mut l = lock(&l);
        l.finish(channel_top);
        subs.add(&l);
    }
    let (mut personal, mut channel) = (Totals::default(), Totals::default());
    for (i, (p, ch, task)) in devices.into_iter().enumerate() {
        let _ = tokio::time::timeout(native::WAIT, task).await;
        let mut p = lock(&p);
        p.finish(ctx.personal_top[i].load(Ordering::Relaxed));
        personal.add(&p);
        let mut ch = lock(&ch);
        ch.finish(channel_top);
        channel.add(&ch);
    }
    running.stop().await;

    let outcome = report::Outcome {
        secs: args.secs,
        warmup_secs: args.warmup_secs,
        cold,
        start,
        end,
        drained,
        subscribers: subs,
        device_personal: personal,
        device_channel: channel,
        channel_top,
        counts: &ctx.counts,
        tolerance: TOLERANCE,
    };
    let failures = outcome.failures();
    report::write(&args.results, &outcome)?;
    for f in &failures {
        eprintln!("soak: FAIL: {f}");
    }
    Ok(failures.is_empty())
}

/// Every kind of load but the devices' reloads (driven by the phase), for `secs`.
async fn churn(c: &Ctx, secs: u64, args: &SoakArgs) {
    let until = Instant::now() + Duration::from_secs(secs);
    let ms = Duration::from_millis;
    tokio::join!(
        churn::api_publisher(c, until, ms(125)),
        churn::client_publisher(c, until, ms(500)),
        churn::personal_publisher(c, until, ms(100)),
        churn::storms(c, until, ms(5000), args.storm),
        churn::sub_unsub(c, until, 1),
        churn::sub_unsub(c, until, 2),
        churn::anonymous_logins(c, until, ms(200)),
        async {
            if args.password_every_ms > 0 {
                churn::password_logins(c, until, ms(args.password_every_ms)).await;
            }
        },
    );
}

/// Device users with keys, password users.
async fn setup(target: &Target, args: &SoakArgs) -> anyhow::Result<()> {
    for i in 0..args.devices {
        let path = format!("/api/v1/users/{}/key", device_user(i));
        target
            .api(reqwest::Method::PUT, &path, json!({ "key": device_key(i) }))
            .await
            .context("setting a device user's key")?;
    }
    for i in 0..PASSWORD_USERS {
        let (user, password) = password_user(i);
        target
            .api_post(
                "/api/v1/users",
                json!({ "user_id": user, "username": user, "password": password }),
            )
            .await
            .context("creating a password user")?;
    }
    Ok(())
}

pub fn device_key(i: usize) -> String {
    format!("soak-key-{i}")
}

/// Waits until every receiver has reached the tops; whether they all did within [`DRAIN`].
async fn drain(
    ctx: &Ctx,
    subscribers: &[(Shared, tokio::task::JoinHandle<()>)],
    devices: &[(Shared, Shared, tokio::task::JoinHandle<()>)],
    channel_top: u64,
) -> bool {
    let deadline = Instant::now() + DRAIN;
    loop {
        let subs_done = subscribers.iter().all(|(l, _)| lock(l).last >= channel_top);
        let devices_done = devices.iter().enumerate().all(|(i, (p, c, _))| {
            lock(p).last >= ctx.personal_top[i].load(Ordering::Relaxed)
                && lock(c).last >= channel_top
        });
        if subs_done && devices_done {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Polling a few shared counters; the receivers themselves are event-driven.
        sleep(Duration::from_millis(100)).await;
    }
}

/// `RESULTS.md` without its Soak section, and that section.
pub fn split_results(text: &str) -> (String, String) {
    report::split(text)
}
