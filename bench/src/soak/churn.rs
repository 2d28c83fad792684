//! The soak's loops. Each runs until its deadline, one step at a time (or a fixed number of
//! sockets at a time), so the load is bounded whatever the relay does; failures are counted,
//! not fatal, and the first of each loop is printed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use super::native::Conn;
use super::{CHANNEL, Ctx};
use crate::recorder::content;

/// What the loops did, for the report.
#[derive(Debug, Default, serde::Serialize)]
pub struct Counts {
    pub api_publishes: AtomicU64,
    pub client_publishes: AtomicU64,
    pub personal_publishes: AtomicU64,
    pub storm_connections: AtomicU64,
    pub reloads: AtomicU64,
    pub subscribes: AtomicU64,
    pub anonymous_logins: AtomicU64,
    pub password_logins: AtomicU64,
    pub tunnels: AtomicU64,
    pub errors: AtomicU64,
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn failed(ctx: &Ctx, what: &str, e: &anyhow::Error) {
    if ctx.counts.errors.fetch_add(1, Ordering::Relaxed) < 10 {
        eprintln!("  soak: {what} failed: {e:#}");
    }
}

/// Back-end publishes to the channel, every `every`; the answers' seqs raise the top.
pub async fn api_publisher(ctx: &Ctx, until: Instant, every: Duration) {
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        let body = json!({ "event": "soak", "data": payload(i) });
        match ctx
            .target
            .api_post(&format!("/api/v1/channels/{CHANNEL}/messages"), body)
            .await
        {
            Ok(v) => {
                if let Some(seq) = v["seq"].as_u64() {
                    ctx.channel_top.fetch_max(seq, Ordering::Relaxed);
                }
                bump(&ctx.counts.api_publishes);
            }
            Err(e) => failed(ctx, "an API publish", &e),
        }
        sleep(every).await;
    }
}

/// Personal messages to the devices' users in turn.
pub async fn personal_publisher(ctx: &Ctx, until: Instant, every: Duration) {
    let mut i = 0;
    while Instant::now() < until {
        let u = i % ctx.personal_top.len();
        i += 1;
        let body = json!({ "event": "soak", "data": payload(i as u64) });
        match ctx
            .target
            .api_post(
                &format!("/api/v1/users/{}/messages", super::device_user(u)),
                body,
            )
            .await
        {
            Ok(v) => {
                if let Some(seq) = v["seq"].as_u64() {
                    ctx.personal_top[u].fetch_max(seq, Ordering::Relaxed);
                }
                bump(&ctx.counts.personal_publishes);
            }
            Err(e) => failed(ctx, "a personal publish", &e),
        }
        sleep(every).await;
    }
}

/// A client publishing to the channel over its socket (within the relay's publish rate).
pub async fn client_publisher(ctx: &Ctx, until: Instant, every: Duration) {
    while Instant::now() < until {
        let mut conn = match Conn::open(ctx.target.addr).await {
            Ok(c) => c,
            Err(e) => {
                failed(ctx, "the publishing client's connect", &e);
                sleep(every).await;
                continue;
            }
        };
        let mut i = 0;
        while Instant::now() < until {
            i += 1;
            let body = json!({ "channel": CHANNEL, "event": "soak", "data": payload(i) });
            match conn.request("publish", body, &mut |_| {}).await {
                Ok(v) => {
                    if let Some(seq) = v["seq"].as_u64() {
                        ctx.channel_top.fetch_max(seq, Ordering::Relaxed);
                    }
                    bump(&ctx.counts.client_publishes);
                }
                Err(e) => {
                    failed(ctx, "a client publish", &e);
                    break;
                }
            }
            sleep(every).await;
        }
        conn.close().await;
    }
}

/// Every `every`, `n` anonymous sockets at once (64 handshakes at a time), each proven
/// live by a round trip, then all closed.
pub async fn storms(ctx: &Ctx, until: Instant, every: Duration, n: usize) {
    while Instant::now() < until {
        let opened: Vec<Option<Conn>> = stream::iter(0..n)
            .map(|_| async {
                let mut c = Conn::open(ctx.target.addr).await.ok()?;
                c.ping(&mut |_| {}).await.ok()?;
                Some(c)
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let ok = opened.iter().flatten().count();
        ctx.counts
            .storm_connections
            .fetch_add(ok as u64, Ordering::Relaxed);
        if ok < n {
            failed(
                ctx,
                "storm connections",
                &anyhow::anyhow!("{} of {n} failed", n - ok),
            );
        }
        stream::iter(opened.into_iter().flatten())
            .for_each_concurrent(64, Conn::close)
            .await;
        sleep(every).await;
    }
}

/// Subscribes and unsubscribes on one socket: channels from a fixed set, and a presence
/// channel whose members get subscription/unsubscription frames.
pub async fn sub_unsub(ctx: &Ctx, until: Instant, seed: u64) {
    let mut k = seed;
    while Instant::now() < until {
        let mut conn = match Conn::open(ctx.target.addr).await {
            Ok(c) => c,
            Err(e) => {
                failed(ctx, "a subscriber's connect", &e);
                sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for _ in 0..50 {
            if Instant::now() >= until {
                break;
            }
            k = k.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let channel = if k.is_multiple_of(4) {
                "track_soak".to_owned()
            } else {
                format!("churn_{}", (k >> 33) % 500)
            };
            let one = async {
                conn.request("subscribe", json!({ "channel": channel }), &mut |_| {})
                    .await?;
                conn.request("unsubscribe", json!({ "channel": channel }), &mut |_| {})
                    .await
            };
            match one.await {
                Ok(_) => bump(&ctx.counts.subscribes),
                Err(e) => {
                    failed(ctx, "a subscribe/unsubscribe", &e);
                    break;
                }
            }
            sleep(Duration::from_millis(20)).await;
        }
        conn.close().await;
    }
}

/// Visitors without credentials (`--anonymous`); every tenth opens its Wafer tunnel too.
pub async fn anonymous_logins(ctx: &Ctx, until: Instant, every: Duration) {
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let tunnel = i.is_multiple_of(10);
        match anonymous_visit(ctx, tunnel).await {
            Ok(()) => {
                bump(&ctx.counts.anonymous_logins);
                if tunnel {
                    bump(&ctx.counts.tunnels);
                }
            }
            Err(e) => failed(ctx, "an anonymous login", &e),
        }
        sleep(every).await;
    }
}

async fn anonymous_visit(ctx: &Ctx, tunnel: bool) -> anyhow::Result<()> {
    let http = &ctx.target.http;
    let login: Value = http
        .get(ctx.target.url("/weapp/login"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let skey = login["data"]["skey"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no skey in {login}"))?;
    if !tunnel {
        return Ok(());
    }
    let url = ctx.target.tunnel_url(skey).await?;
    let mut conn = Conn::open_url(&url).await?;
    conn.ping(&mut |_| {}).await?;
    conn.close().await;
    Ok(())
}

/// Logins with a password (Argon2 on the relay), in turn over the soak's password users.
pub async fn password_logins(ctx: &Ctx, until: Instant, every: Duration) {
    let mut i = 0;
    while Instant::now() < until {
        let (user, password) = super::password_user(i % super::PASSWORD_USERS);
        i += 1;
        let r = async {
            ctx.target
                .http
                .post(ctx.target.url("/weapp/login"))
                .json(&json!({ "username": user, "password": password }))
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        };
        match r.await {
            Ok(()) => bump(&ctx.counts.password_logins),
            Err(e) => failed(ctx, "a password login", &e),
        }
        sleep(every).await;
    }
}

fn payload(i: u64) -> Value {
    let text = content(0, i, crate::clock::now_us(), "soak");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
