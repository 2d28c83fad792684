//! Receipts are written on an interval (`--cursor-flush-ms`), not with every commit: a cursor
//! that moves many times inside it costs one row write. Whatever reads cursors, a closed
//! connection and a clean shutdown still see them written at once.

mod common;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::process::spawn_with;
use common::{TestRelay, Tunnel, WAIT};
use serde_json::json;

/// Long enough that no test here ever reaches it: whatever writes a cursor is something else.
const NEVER: Duration = Duration::from_secs(600);

async fn cursor_writes(r: &TestRelay) -> Result<u64> {
    let (status, body) = r.api("GET", "/stats", None).await?;
    if status != 200 {
        bail!("stats: {status} {body}");
    }
    body["store"]["cursor_writes"]
        .as_u64()
        .with_context(|| format!("no cursor_writes in {body}"))
}

/// Pushes `1..=n` to `user` and reads each on `t`, answering each fence. A tunnel writes the
/// Pong it owes before its next frame, so after the last `ping` round trip the relay has the
/// Pong of every message.
async fn push_and_confirm(r: &TestRelay, t: &mut Tunnel, user: &str, n: i64) -> Result<()> {
    for i in 1..=n {
        assert_eq!(r.push(user, "n", json!(i)).await?["delivered"], 1);
        assert_eq!(t.message().await?.1, json!(i));
        t.sync().await?;
    }
    t.sync().await
}

#[tokio::test]
async fn receipts_inside_the_flush_interval_cost_one_cursor_write() -> Result<()> {
    let r = TestRelay::start_with(|c| c.cursor_flush = NEVER).await?;
    let skey = r.login("often").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    let before = cursor_writes(&r).await?;
    push_and_confirm(&r, &mut t, "often", 20).await?;
    // The stats read the store, so the pending cursor is written first and counted.
    let writes = cursor_writes(&r).await? - before;
    assert_eq!(writes, 1, "20 receipts, {writes} cursor writes");
    // The one write holds the last position: the session's next tunnel starts after it.
    drop(t);
    r.push("often", "n", json!(21)).await?;
    let mut next = r.tunnel(&skey).await?;
    assert_eq!(next.messages_until_synced().await?, vec![json!(21)]);
    r.stop().await
}

#[tokio::test]
async fn a_closed_tunnel_s_receipts_are_on_disk_before_the_interval_ends() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let flush = NEVER.as_millis().to_string();
    let (mut child, addr) = spawn_with(dir.path(), "127.0.0.1:0", |cmd| {
        cmd.args(["--cursor-flush-ms", &flush]);
    })
    .await?;
    let r = TestRelay::attach(addr.parse()?);
    let skey = r.login("closer").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    push_and_confirm(&r, &mut t, "closer", 3).await?;
    t.ws.close(None).await?;
    // The close is the only thing that can write the cursor now: nothing reads the store,
    // and the interval is far away. Watch the file, as a crash would leave it.
    let db = dir.path().join("cometa.sqlite3");
    tokio::time::timeout(WAIT, async {
        while stored_cursor(&db, "closer")? < Some(3) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(())
    })
    .await
    .context("the closed tunnel's cursor was not written")??;
    child.start_kill()?;
    child.wait().await?;

    let (_child, again) = spawn_with(dir.path(), &addr, |_| {}).await?;
    let r = TestRelay::attach(again.parse()?);
    r.push("closer", "n", json!(4)).await?;
    let mut next = r.tunnel(&skey).await?;
    assert_eq!(next.messages_until_synced().await?, vec![json!(4)]);
    Ok(())
}

/// The highest cursor any session of `user` has in the store file, read as another process
/// would (WAL mode lets a reader in beside the relay's writer).
fn stored_cursor(db: &std::path::Path, user: &str) -> Result<Option<i64>> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let seq = c.query_row(
        "SELECT max(seq) FROM stream_cursors WHERE stream = ?1 AND owner LIKE 'session:%'",
        [format!("msg:{user}")],
        |row| row.get::<_, Option<i64>>(0),
    )?;
    Ok(seq)
}
