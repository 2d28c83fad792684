//! Cursors advance when the client has a message, never when the relay merely wrote it: a
//! Wafer tunnel confirms by answering the Ping written after the frames, a native client by
//! `ack`. Frames written to a client that never confirmed them come again on its next
//! connection — after a reset, and after a `kill -9` of the relay.

mod common;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::process::spawn;
use common::{TestRelay, Tunnel};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::MaybeTlsStream;

/// Reads the raw bytes of `ws` until `marker` has been seen `count` times, without ever
/// answering a Ping: a client whose frames reached its socket but that never read them.
async fn bytes_arrived(ws: &mut common::Tunnel, marker: &[u8], count: usize) -> Result<()> {
    let MaybeTlsStream::Plain(tcp) = ws.ws.get_mut() else {
        bail!("expected a plain TCP stream");
    };
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.windows(marker.len()).filter(|w| *w == marker).count() < count {
        let n = tokio::time::timeout(common::WAIT, tcp.read(&mut buf))
            .await
            .context("frames not written in time")??;
        if n == 0 {
            bail!("closed before {count} frames arrived");
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// Drops the connection with a TCP reset, as a phone losing its network does.
fn reset(mut t: Tunnel) -> Result<()> {
    if let MaybeTlsStream::Plain(tcp) = t.ws.get_mut() {
        #[allow(deprecated)] // set_linger is exactly what a reset needs here.
        tcp.set_linger(Some(Duration::ZERO))?;
    }
    drop(t);
    Ok(())
}

fn one_to(n: i64) -> Vec<Value> {
    (1..=n).map(|i| json!(i)).collect()
}

#[tokio::test]
async fn a_tunnel_that_never_read_its_frames_gets_all_of_them_on_the_next_one() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("unread").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    for i in 1..=20 {
        assert_eq!(r.push("unread", "n", json!(i)).await?["delivered"], 1);
    }
    bytes_arrived(&mut t, b"message:", 20).await?;
    reset(t)?;

    let mut next = r.tunnel(&skey).await?;
    assert_eq!(next.messages_until_synced().await?, one_to(20));
    r.stop().await
}

#[tokio::test]
async fn a_tunnel_that_answered_the_fence_is_not_sent_the_same_frames_again() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("read").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    for i in 1..=3 {
        r.push("read", "n", json!(i)).await?;
    }
    for i in 1..=3 {
        assert_eq!(t.message().await?.1, json!(i));
    }
    // The fence's Ping came after the frames; reading on answers it.
    t.sync().await?;
    reset(t)?;
    r.push("read", "n", json!(4)).await?;
    let mut next = r.tunnel(&skey).await?;
    assert_eq!(next.messages_until_synced().await?, vec![json!(4)]);
    r.stop().await
}

/// A read through the store (the stats): it commits behind every cursor write recorded
/// before it, so whatever the relay counted as received is on disk before the kill. (Appends
/// no longer do: they leave cursor writes to the flush interval.)
async fn commit_pending_cursors(r: &TestRelay) -> Result<()> {
    let (status, body) = r.api("GET", "/stats", None).await?;
    if status != 200 {
        bail!("stats: {status} {body}");
    }
    Ok(())
}

#[tokio::test]
async fn frames_written_but_not_confirmed_survive_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn(dir.path(), "127.0.0.1:0").await?;
    let r = TestRelay::attach(addr.parse()?);
    let skey = r.login("k9-wafer").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    for i in 1..=5 {
        assert_eq!(r.push("k9-wafer", "n", json!(i)).await?["delivered"], 1);
    }
    bytes_arrived(&mut t, b"message:", 5).await?;
    commit_pending_cursors(&r).await?;
    child.start_kill()?;
    child.wait().await?;
    drop(t);

    let (_child, again) = spawn(dir.path(), &addr).await?;
    let r = TestRelay::attach(again.parse()?);
    let mut next = r.tunnel(&skey).await?;
    assert_eq!(next.messages_until_synced().await?, one_to(5));
    Ok(())
}

#[tokio::test]
async fn a_native_client_that_never_acks_gets_its_messages_again_after_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn(dir.path(), "127.0.0.1:0").await?;
    let r = TestRelay::attach(addr.parse()?);
    let (mut n, _) = r.native_user("k9-native", "phone").await?;
    for i in 1..=5u64 {
        r.push("k9-native", "n", json!(i)).await?;
        assert_eq!(n.publication().await?["seq"], i);
    }
    // Read, but never acknowledged.
    n.sync().await?;
    commit_pending_cursors(&r).await?;
    child.start_kill()?;
    child.wait().await?;
    drop(n);

    let (_child, again) = spawn(dir.path(), &addr).await?;
    let r = TestRelay::attach(again.parse()?);
    let (mut n, _) = r.native_user("k9-native", "phone").await?;
    for i in 1..=5u64 {
        assert_eq!(
            n.publication().await?["seq"],
            i,
            "replayed after the restart"
        );
    }
    // Acknowledged this time: the next connection of the device starts after it.
    n.send(r#"ack:{"seq":5}"#).await?;
    n.sync().await?;
    drop(n);
    r.push("k9-native", "n", json!(6)).await?;
    let (mut n, _) = r.native_user("k9-native", "phone").await?;
    assert_eq!(n.publication().await?["seq"], 6);
    Ok(())
}

/// The first text frame of a tunnel, raw: the `stream` packet naming the epoch.
async fn stream_packet(t: &mut Tunnel) -> Result<String> {
    use common::StreamExt;
    loop {
        let msg = tokio::time::timeout(common::WAIT, t.ws.next())
            .await
            .context("no stream packet")?;
        match msg {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                return Ok(text.to_string());
            }
            Some(Ok(_)) => continue,
            other => bail!("expected the stream packet, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_re_created_user_is_resumed_from_its_new_history_in_a_new_epoch() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("phoenix").await?;
    let mut t = r.tunnel(&skey).await?;
    let first = stream_packet(&mut t).await?;
    assert!(first.starts_with(r#"stream:{"epoch":""#), "{first}");
    for i in 1..=5 {
        r.push("phoenix", "old", json!(i)).await?;
    }
    assert_eq!(t.messages_until_synced().await?, one_to(5));
    // Confirmed (the fence's Pong went back while reading), then the user is deleted.
    t.sync().await?;
    let (st, body) = r.api("DELETE", "/users/phoenix", None).await?;
    assert_eq!(st, 200, "{body}");
    reset(t)?;

    // Re-created with the same id: a new history from seq 1, in a new epoch, and its device
    // gets all of it — no old position skips any.
    for i in 1..=3 {
        assert_eq!(r.push("phoenix", "new", json!(i)).await?["seq"], i);
    }
    let skey = r.login("phoenix").await?;
    let mut t = r.tunnel(&skey).await?;
    let second = stream_packet(&mut t).await?;
    assert_ne!(second, first, "a new epoch");
    assert_eq!(t.messages_until_synced().await?, one_to(3));
    r.stop().await
}
