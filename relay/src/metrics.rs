//! Prometheus metrics: every name in one place, each call site one line.
//!
//! Served as `GET /metrics` (Prometheus text format, through `prometheus-client`) on the main
//! port behind the API key, and without a key on `--metrics-listen` when set.
//!
//! The registry is process-wide, like a `metrics` recorder: counters are bumped from the store
//! thread and from connection tasks that hold no handle on the relay. A process runs one relay;
//! tests that start several in one process see their sum.
//!
//! Cost on the delivery path: none per delivery. Deliveries are counted once per publish
//! (`inc_by` the number of connections that took the message), and the latency histogram is
//! observed once per publish, never per recipient. Queue depths are read at scrape time.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::frames::Dialect;

type Label = [(&'static str, &'static str); 1];

struct Metrics {
    registry: Registry,
    wafer: Gauge,
    native: Gauge,
    logins: Family<[(&'static str, &'static str); 2], Counter>,
    personal: Counter,
    channel: Counter,
    deliveries: Counter,
    store_commit: Histogram,
    publish_fanout: Histogram,
    queued: Family<Label, Gauge>,
    store_dropped: Gauge,
    closes: Family<[(&'static str, u16); 1], Counter>,
    rate_limited: Family<Label, Counter>,
    duplicates: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut r = Registry::with_prefix("cometa");
    let connections = Family::<Label, Gauge>::default();
    r.register(
        "connections",
        "Live WebSocket connections by dialect",
        connections.clone(),
    );
    // One statement each: `get_or_create` hands back a read guard, and creating the second
    // entry while the first's guard lives would wait for itself.
    let wafer = connections.get_or_create(&[("dialect", "wafer")]).clone();
    let native = connections.get_or_create(&[("dialect", "native")]).clone();
    let publishes = Family::<Label, Counter>::default();
    r.register(
        "publishes",
        "Messages published, by stream kind",
        publishes.clone(),
    );
    let personal = publishes.get_or_create(&[("kind", "personal")]).clone();
    let channel = publishes.get_or_create(&[("kind", "channel")]).clone();
    let m = Metrics {
        wafer,
        native,
        personal,
        channel,
        logins: Family::default(),
        deliveries: Counter::default(),
        // 100 µs to about 3 s.
        store_commit: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        publish_fanout: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        queued: Family::default(),
        store_dropped: Gauge::default(),
        closes: Family::default(),
        rate_limited: Family::default(),
        duplicates: Counter::default(),
        registry: Registry::default(),
    };
    r.register(
        "logins",
        "Logins by method and result (ok, failed, limited)",
        m.logins.clone(),
    );
    r.register(
        "deliveries",
        "Published messages queued to a live connection, one per recipient",
        m.deliveries.clone(),
    );
    r.register(
        "store_commit_seconds",
        "Time to commit one batch of store jobs",
        m.store_commit.clone(),
    );
    r.register(
        "publish_fanout_seconds",
        "From a publish's arrival to its message queued on every live recipient, commit included",
        m.publish_fanout.clone(),
    );
    r.register(
        "queued",
        "Items waiting: store jobs, webhook events, frames in connection outboxes",
        m.queued.clone(),
    );
    r.register(
        "store_dropped_writes",
        "Store writes nobody waited for (last seen) dropped on a full queue, since start",
        m.store_dropped.clone(),
    );
    r.register(
        "closes",
        "Connections closed, by WebSocket close code",
        m.closes.clone(),
    );
    r.register(
        "rate_limited",
        "Requests or frames refused by a rate limit, by limit",
        m.rate_limited.clone(),
    );
    r.register(
        "duplicate_messages",
        "Client messages resent with an idempotency key the relay had taken, not delivered again",
        m.duplicates.clone(),
    );
    Metrics { registry: r, ..m }
});

/// Counts a live connection until dropped.
pub struct Live(Gauge);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub fn connected(dialect: Dialect) -> Live {
    let g = match dialect {
        Dialect::Wafer => &METRICS.wafer,
        Dialect::Native => &METRICS.native,
    };
    g.inc();
    Live(g.clone())
}

/// The credential a native `auth` frame brings.
pub fn native_login_method(req: &cometa_protocol::frames::AuthRequest) -> &'static str {
    if req.user_key.is_some() {
        "user_key"
    } else if req.token.is_some() {
        "token"
    } else if req.skey.is_some() {
        "skey"
    } else {
        "anonymous"
    }
}

/// `method`: password, jwt, code, delegated, visitor, user_key, token, skey, anonymous.
pub fn login(method: &'static str, result: &'static str) {
    METRICS
        .logins
        .get_or_create(&[("method", method), ("result", result)])
        .inc();
    if result == "limited" {
        rate_limited("login");
    }
}

/// One publish to a personal stream or a channel, taken by `delivered` connections, `since`
/// its arrival.
pub fn published(kind: Kind, delivered: usize, since: Instant) {
    match kind {
        Kind::Personal => METRICS.personal.inc(),
        Kind::Channel => METRICS.channel.inc(),
    };
    METRICS.deliveries.inc_by(delivered as u64);
    METRICS
        .publish_fanout
        .observe(since.elapsed().as_secs_f64());
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Personal,
    Channel,
}

pub fn store_committed(since: Instant) {
    METRICS.store_commit.observe(since.elapsed().as_secs_f64());
}

/// Returns `code`, so a `return` can count the close it makes.
pub fn closed(code: u16) -> u16 {
    METRICS.closes.get_or_create(&[("code", code)]).inc();
    code
}

/// `limit`: frame, publish, login.
pub fn rate_limited(limit: &'static str) {
    METRICS
        .rate_limited
        .get_or_create(&[("limit", limit)])
        .inc();
}

/// A resent client message acknowledged without a second delivery.
pub fn duplicate_message() {
    METRICS.duplicates.inc();
}

/// A queue's depth, set at scrape time. `queue`: store, webhook, outbox.
pub fn set_queued(queue: &'static str, n: usize) {
    METRICS
        .queued
        .get_or_create(&[("queue", queue)])
        .set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// Store writes dropped so far, set at scrape time.
pub fn set_store_dropped(n: u64) {
    METRICS
        .store_dropped
        .set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// The text exposition of every metric.
pub fn encode_text() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    if let Err(e) = encode(&mut out, &METRICS.registry) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}
