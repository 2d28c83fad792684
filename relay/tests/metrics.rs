//! `GET /metrics`: Prometheus text behind the API key on the main port, open on
//! `--metrics-listen`, and its values move as traffic flows.
//!
//! The registry is process-wide, so this file holds one test: nothing else in its process
//! moves the numbers.

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use common::{KEY, Seen, SinkExt, TestRelay};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The sample `name` (with its labels, as exposed) in a scrape; 0 when absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.rsplit_once(' ')?;
            (n == name).then(|| v.parse().ok())?
        })
        .unwrap_or(0.0)
}

async fn scrape(r: &TestRelay) -> Result<String> {
    let res = r
        .http
        .get(r.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await?;
    if res.status() != 200 {
        bail!("scrape: {}", res.status());
    }
    Ok(res.text().await?)
}

/// Scrapes until `name` reaches `want`: connection tasks end a moment after their socket.
async fn until(r: &TestRelay, name: &str, want: f64) -> Result<String> {
    let deadline = Instant::now() + common::WAIT;
    loop {
        let text = scrape(r).await?;
        if sample(&text, name) == want {
            return Ok(text);
        }
        if Instant::now() > deadline {
            bail!("{name} = {} never reached {want}", sample(&text, name));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_move_as_traffic_flows() -> Result<()> {
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let r = TestRelay::start_with(|c| {
        c.metrics_listen = Some(free);
        c.publish_rate = 1;
        c.publish_burst = 1;
        c.key_failures_per_user = 1;
    })
    .await?;

    // The main port wants the API key; the metrics port does not.
    let res = r.http.get(r.url("/metrics")).send().await?;
    assert_eq!(res.status(), 401);
    let open = metrics_port(&r, free).await?;
    assert!(open.contains("# TYPE cometa_connections gauge"), "{open}");

    let before = scrape(&r).await?;
    let v = |text: &str, name: &str| sample(text, name) - sample(&before, name);

    // Connect and log in, both dialects; one wrong key, then one past the limit.
    let skey = r.login("mia").await?;
    let mut tunnel = r.tunnel(&skey).await?;
    tunnel.sync().await?;
    let (mut native, _) = r.native_user("ned", "d1").await?;
    native.sync().await?;
    for key in ["wrong-1", "wrong-2"] {
        let mut n = r.native().await?;
        let _ = n
            .request("auth", json!({"user_id": "ned", "user_key": key}))
            .await?;
    }
    // Publish: a personal message delivered to the tunnel, channel publishes past the rate.
    r.push("mia", "hello", json!(1)).await?;
    assert_eq!(tunnel.message().await?.0, "hello");
    for _ in 0..3 {
        let _ = native
            .request(
                "publish",
                json!({"channel": "web_m", "event": "e", "data": 1}),
            )
            .await?;
    }
    let during = scrape(&r).await?;
    for (name, want) in [
        ("cometa_connections{dialect=\"wafer\"}", 1.0),
        ("cometa_connections{dialect=\"native\"}", 1.0),
        ("cometa_logins_total{method=\"code\",result=\"ok\"}", 1.0),
        (
            "cometa_logins_total{method=\"user_key\",result=\"ok\"}",
            1.0,
        ),
        (
            "cometa_logins_total{method=\"user_key\",result=\"failed\"}",
            1.0,
        ),
        (
            "cometa_logins_total{method=\"user_key\",result=\"limited\"}",
            1.0,
        ),
        ("cometa_rate_limited_total{limit=\"login\"}", 1.0),
        ("cometa_publishes_total{kind=\"personal\"}", 1.0),
        ("cometa_deliveries_total", 1.0),
        ("cometa_publish_fanout_seconds_count", 2.0),
    ] {
        assert_eq!(v(&during, name), want, "{name}\n{during}");
    }
    assert!(v(&during, "cometa_rate_limited_total{limit=\"publish\"}") >= 1.0);
    assert!(v(&during, "cometa_publishes_total{kind=\"channel\"}") >= 1.0);
    assert!(v(&during, "cometa_store_commit_seconds_count") >= 2.0);
    assert!(
        during.contains("cometa_queued{queue=\"store\"}"),
        "{during}"
    );
    assert!(
        during.contains("cometa_queued{queue=\"outbox\"}"),
        "{during}"
    );

    // Close: the client's own close, and the relay's for the limited auth.
    tunnel.ws.send(Message::Close(None)).await?;
    while !matches!(tunnel.next().await?, Seen::Closed(_)) {}
    let after = until(&r, "cometa_connections{dialect=\"wafer\"}", 0.0).await?;
    assert_eq!(
        v(&after, "cometa_closes_total{code=\"1000\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        v(&after, "cometa_closes_total{code=\"4504\"}"),
        1.0,
        "{after}"
    );
    r.stop().await
}

async fn metrics_port(r: &TestRelay, addr: SocketAddr) -> Result<String> {
    let res = r
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .context("metrics port")?;
    assert_eq!(res.status(), 200);
    Ok(res.text().await?)
}
