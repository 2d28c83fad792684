//! The receivers whose deliveries are checked: subscribers that stay connected, and devices
//! that reload during the churn (close, reconnect with their stored personal and channel
//! positions, ack what they got) and stay connected otherwise.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, sleep};

use super::churn::bump;
use super::ledger::{Ledger, Shared, lock};
use super::native::{self, Conn, Delivery};
use super::{CHANNEL, Ctx};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Stay connected (before and after the churn: the readings).
    Hold,
    /// Reload now and then.
    Churn,
    /// Close and end.
    Stop,
}

/// Subscribes once and stays until [`Phase::Stop`].
pub async fn subscriber(
    ctx: Arc<Ctx>,
    ledger: Shared,
    mut phase: watch::Receiver<Phase>,
    ready: oneshot::Sender<anyhow::Result<()>>,
) {
    let mut conn = match subscribe(&ctx, &ledger).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Stop {
                    break;
                }
            }
            got = conn.next(native::WAIT) => match got {
                Ok(Some(text)) => {
                    if let Some(d) = native::delivery(&text) {
                        deliver_channel(&ledger, &d);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("  soak: a subscriber was disconnected: {e:#}");
                    lock(&ledger).dropped += 1;
                    return;
                }
            },
        }
    }
    conn.close().await;
}

async fn subscribe(ctx: &Ctx, ledger: &Shared) -> anyhow::Result<Conn> {
    let mut conn = Conn::open(ctx.target.addr).await?;
    let since = native::since(lock(ledger).position());
    let state = conn
        .request(
            "subscribe",
            json!({ "channel": CHANNEL, "since": since }),
            &mut |d| deliver_channel(ledger, &d),
        )
        .await?;
    resumed(&mut lock(ledger), &state);
    Ok(conn)
}

fn deliver_channel(ledger: &Shared, d: &Delivery) {
    if let (true, Some(seq)) = (d.channel == CHANNEL, d.seq) {
        lock(ledger).deliver(seq);
    }
}

fn resumed(l: &mut Ledger, state: &Value) {
    l.resumed(
        state["epoch"].as_str().unwrap_or_default(),
        state["seq"].as_u64().unwrap_or(0),
        state["recovered"].as_bool().unwrap_or(false),
    );
}

/// Device `i` of user `soak_d{i}`.
pub async fn device(
    ctx: Arc<Ctx>,
    i: usize,
    personal: Shared,
    channel: Shared,
    mut phase: watch::Receiver<Phase>,
    ready: oneshot::Sender<anyhow::Result<()>>,
) {
    let d = Device {
        ctx: &ctx,
        i,
        personal: &personal,
        channel: &channel,
    };
    let mut conn = match d.connect().await {
        Ok(c) => Some(c),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ i as u64;
    loop {
        let p = *phase.borrow_and_update();
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match d.connect().await {
                Ok(c) => {
                    bump(&ctx.counts.reloads);
                    conn.insert(c)
                }
                Err(e) => {
                    d.failed("a device's reconnect", &e);
                    sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let until = match p {
            Phase::Stop => break,
            Phase::Hold => None,
            Phase::Churn => {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                Some(Instant::now() + Duration::from_millis(300 + (rng >> 33) % 1700))
            }
        };
        match d.read(c, until, &mut phase).await {
            Ok(true) => {}
            Ok(false) => {
                // A reload: the page goes away and comes back a moment later.
                if let Some(c) = conn.take() {
                    c.close().await;
                }
                sleep(Duration::from_millis((rng >> 40) % 200)).await;
            }
            Err(e) => {
                d.failed("a device's socket", &e);
                conn = None;
            }
        }
    }
    if let Some(c) = conn {
        c.close().await;
    }
}

struct Device<'a> {
    ctx: &'a Ctx,
    i: usize,
    personal: &'a Shared,
    channel: &'a Shared,
}

impl Device<'_> {
    fn failed(&self, what: &str, e: &anyhow::Error) {
        bump(&self.ctx.counts.errors);
        eprintln!("  soak: {what} failed: {e:#}");
    }

    fn on_pub(&self, d: &Delivery) {
        match (d.channel.as_str(), d.seq) {
            ("msg", Some(seq)) => lock(self.personal).deliver(seq),
            (CHANNEL, Some(seq)) => lock(self.channel).deliver(seq),
            _ => {}
        }
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        let mut conn = Conn::open(self.ctx.target.addr).await?;
        let auth = json!({
            "user_id": super::device_user(self.i),
            "user_key": super::device_key(self.i),
            "device": format!("soak-device-{}", self.i),
            "since": native::since(lock(self.personal).position()),
        });
        let r = conn.request("auth", auth, &mut |d| self.on_pub(&d)).await?;
        resumed(&mut lock(self.personal), &r["personal"]);
        let since = native::since(lock(self.channel).position());
        let sub = json!({ "channel": CHANNEL, "since": since });
        let state = conn
            .request("subscribe", sub, &mut |d| self.on_pub(&d))
            .await?;
        resumed(&mut lock(self.channel), &state);
        Ok(conn)
    }

    /// Reads (acking the personal stream) until `until`, or until the phase changes.
    /// `Ok(true)`: the phase changed; `Ok(false)`: the time is up.
    async fn read(
        &self,
        c: &mut Conn,
        until: Option<Instant>,
        phase: &mut watch::Receiver<Phase>,
    ) -> anyhow::Result<bool> {
        let mut acked = lock(self.personal).last;
        loop {
            let wait = until.map_or(native::WAIT, |u| {
                u.saturating_duration_since(Instant::now())
            });
            if until.is_some() && wait.is_zero() {
                return Ok(false);
            }
            tokio::select! {
                changed = phase.changed() => {
                    let _ = changed;
                    return Ok(true);
                }
                got = c.next(wait) => {
                    if let Some(d) = got?.as_deref().and_then(native::delivery) {
                        self.on_pub(&d);
                    }
                }
            }
            let last = lock(self.personal).last;
            if last > acked {
                c.send(format!("ack:{{\"seq\":{last}}}")).await?;
                acked = last;
            }
        }
    }
}
