//! The real binary drained by SIGTERM during a burst of API pushes: nothing acknowledged is
//! lost, the process exits 0 within the drain window, and clients come back after a restart.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const KEY: &str = common::KEY;
const DRAIN_SECS: u64 = 1;
/// Beyond the window: the process's own start and stop, on a machine shared by many builds.
const MARGIN: Duration = Duration::from_secs(3);
const PUSHERS: usize = 8;
const PUSHES_EACH: usize = 200;
const WATCHERS: usize = 4;

async fn spawn(dir: &std::path::Path, listen: &str) -> Result<(Child, String)> {
    common::process::spawn_with(dir, listen, |c| {
        c.args(["--drain-secs", &DRAIN_SECS.to_string()])
            .args(["--queue-max-len", "100000"]);
    })
    .await
}

/// Pushes to user `burst` until a push fails; every 2xx answer goes to `acked` as (seq, data).
fn pusher(addr: String, task: usize, acked: mpsc::UnboundedSender<(u64, i64)>) {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        for i in 0..PUSHES_EACH {
            let data = (task * PUSHES_EACH + i) as i64;
            let res = http
                .post(format!("http://{addr}/api/v1/users/burst/messages"))
                .bearer_auth(KEY)
                .json(&json!({"event": "n", "data": data}))
                .send()
                .await;
            let Ok(res) = res else { return };
            if !res.status().is_success() {
                return;
            }
            let Ok(body) = res.json::<serde_json::Value>().await else {
                return;
            };
            let Some(seq) = body["seq"].as_u64() else {
                return;
            };
            if acked.send((seq, data)).is_err() {
                return;
            }
        }
    });
}

#[tokio::test]
async fn sigterm_during_a_publish_burst_loses_nothing_acknowledged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn(dir.path(), "127.0.0.1:0").await?;
    let r = common::TestRelay::attach(addr.parse()?);
    let mut watchers = Vec::new();
    for i in 0..WATCHERS {
        let (mut w, _) = r.native_user(&format!("watcher{i}"), "w1").await?;
        w.sync().await?;
        watchers.push(w);
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    for task in 0..PUSHERS {
        pusher(addr.clone(), task, tx.clone());
    }
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < 40 {
        let a = tokio::time::timeout(common::WAIT, rx.recv())
            .await?
            .context("pushers stopped before the burst got going")?;
        acked.push(a);
    }
    let pid = child.id().context("pid")?;
    let term = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    assert!(killed.success());

    // Each client reads its close, then reconnects on its own with a small backoff until the
    // relay is back.
    let clients: Vec<_> = watchers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let closed = w.frame().await?;
                let at = Instant::now();
                let r = common::TestRelay::attach(addr.parse()?);
                let deadline = at + common::WAIT;
                loop {
                    if let Ok((n, reply)) = r.native_user(&format!("watcher{i}"), "w1").await {
                        return anyhow::Ok((closed, at, n, reply));
                    }
                    if Instant::now() > deadline {
                        bail!("watcher{i} did not get back");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();

    let status = tokio::time::timeout(Duration::from_secs(DRAIN_SECS) + MARGIN, child.wait())
        .await
        .context("the relay did not exit within the drain window")??;
    let exit_after = term.elapsed();
    assert!(status.success(), "exit status {status}");
    while let Some(a) = tokio::time::timeout(common::WAIT, rx.recv()).await? {
        acked.push(a);
    }
    acked.sort();
    let total = PUSHERS * PUSHES_EACH;
    assert!(acked.len() < total, "the burst was still going at SIGTERM");

    let (_child, addr2) = spawn(dir.path(), &addr).await?;
    assert_eq!(addr2, addr);
    let mut closes = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let (closed, at, mut back, reply) = tokio::time::timeout(common::WAIT, c).await???;
        assert_eq!(closed, "closed:1001", "told to reconnect elsewhere");
        assert_eq!(reply["result"]["user_id"], format!("watcher{i}"), "{reply}");
        back.sync().await?;
        closes.push(at - term);
    }
    closes.sort();
    let spread = closes[WATCHERS - 1] - closes[0];
    assert!(
        spread >= Duration::from_secs(DRAIN_SECS).mul_f64(0.4),
        "closes spread over the drain window: {closes:?}"
    );

    let skey = r.login("burst").await?;
    let mut t = r.tunnel(&skey).await?;
    let last = acked.last().map_or(0, |a| a.0);
    let mut got = Vec::new();
    while (got.len() as u64) < last {
        let (_, content) = t.message().await?;
        got.push(content.as_i64().unwrap_or(i64::MIN));
    }
    for (seq, data) in &acked {
        let Some(&seen) = got.get((*seq - 1) as usize) else {
            bail!("acknowledged seq {seq} missing after restart");
        };
        assert_eq!(
            seen, *data,
            "seq {seq} carries the data it was acknowledged with"
        );
    }
    eprintln!(
        "drain {DRAIN_SECS} s: {} of {total} pushes acknowledged, all {} found after restart \
         (stored up to seq {last}); closes at {closes:?}; exit 0 after {exit_after:?}",
        acked.len(),
        acked.len()
    );
    Ok(())
}
