//! `/readyz`: 200 while the store answers, 503 `{code,error,message}` while it does not, and
//! 200 again once it does; `/healthz` stays 200 throughout (the process is alive).

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{TestRelay, WAIT};
use serde_json::Value;

async fn get(r: &TestRelay, path: &str) -> Result<(u16, String)> {
    let res = tokio::time::timeout(WAIT, r.http.get(r.url(path)).send()).await??;
    Ok((res.status().as_u16(), res.text().await?))
}

#[tokio::test]
async fn readyz_follows_the_store_and_healthz_does_not() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let r = TestRelay::start_in(dir.path(), None, |c| {
        c.readyz_timeout = Duration::from_millis(300);
    })
    .await?;
    assert_eq!(get(&r, "/readyz").await?, (200, "ok".to_string()));

    // Another process holding the database's write lock: every store transaction waits.
    let other = rusqlite::Connection::open(dir.path().join("cometa.sqlite3"))?;
    other.execute_batch("BEGIN EXCLUSIVE")?;
    let (status, body) = get(&r, "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body)?;
    assert_eq!(body["code"], 503);
    assert_eq!(body["error"], "ERR_UNAVAILABLE");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("store")),
        "{body}"
    );
    assert_eq!(get(&r, "/healthz").await?.0, 200);

    other.execute_batch("COMMIT")?;
    // A store round trip with no deadline of its own: once it is back, the store answers.
    let (status, _) = tokio::time::timeout(WAIT, r.api("GET", "/stats", None)).await??;
    assert_eq!(status, 200);
    assert_eq!(get(&r, "/readyz").await?, (200, "ok".to_string()));
    r.stop().await
}

#[tokio::test]
async fn readyz_answers_503_once_the_relay_drains() -> Result<()> {
    let (r, app) = TestRelay::start_exposed(|_| {}).await?;
    assert_eq!(get(&r, "/readyz").await?.0, 200);
    // What the shutdown signal sets first (see relay/src/drain.rs); a load balancer still
    // polling on a kept-alive connection must take the relay out of rotation.
    app.draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, body) = get(&r, "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body)?;
    assert_eq!(body["error"], "ERR_UNAVAILABLE");
    assert_eq!(get(&r, "/healthz").await?.0, 200);
    r.stop().await
}
