//! Clients that hammer the store or reach for another user's position: repeated acks, frame
//! floods, stream epochs across delete and merge, and device cursors per user.

mod common;

use anyhow::{Context, Result, bail};
use common::{Native, Seen, TestRelay};
use serde_json::{Value, json};

async fn cursor_writes(r: &TestRelay) -> Result<u64> {
    let (st, body) = r.api("GET", "/stats", None).await?;
    if st != 200 {
        bail!("stats: {st} {body}");
    }
    body["store"]["cursor_writes"]
        .as_u64()
        .with_context(|| format!("no cursor_writes in {body}"))
}

fn epoch_of(reply: &Value) -> String {
    reply["result"]["personal"]["epoch"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn auth_since(
    r: &TestRelay,
    user: &str,
    device: &str,
    since: Value,
) -> Result<(Native, Value)> {
    let mut n = r.native().await?;
    let reply = n
        .request(
            "auth",
            json!({"user_id": user, "user_key": format!("key-of-{user}"), "device": device,
                   "since": since}),
        )
        .await?;
    Ok((n, reply))
}

#[tokio::test]
async fn repeated_acks_write_the_cursor_at_most_once_per_advance() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut n, _) = r.native_user("acker", "device-acker").await?;
    let mut advances = 0;
    for i in 1..=3u64 {
        r.push("acker", "e", json!(i)).await?;
        assert_eq!(n.publication().await?["seq"], i);
        advances += 1;
        // The same position acknowledged over and over, as the flood did.
        for _ in 0..100 {
            n.send(&format!(r#"ack:{{"seq":{i}}}"#)).await?;
        }
        n.sync().await?;
        assert!(
            n.drain().is_empty(),
            "acks of what was sent are not refused"
        );
    }
    let writes = cursor_writes(&r).await?;
    assert!(
        writes <= advances,
        "{writes} cursor writes for {advances} advances"
    );
    r.stop().await
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `count` `ping` packets in one write.
async fn flood(ws: &mut Socket, count: usize) -> Result<()> {
    use common::SinkExt;
    for _ in 0..count {
        ws.feed(tokio_tungstenite::tungstenite::Message::text("ping"))
            .await?;
    }
    ws.flush().await?;
    Ok(())
}

#[tokio::test]
async fn a_frame_flood_is_refused_then_closed_in_both_dialects() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.frame_rate = 1;
        c.frame_burst = 5;
    })
    .await?;

    let mut n = r.native().await?;
    // The first frame is the handshake (here: stay anonymous); the limit starts after it.
    n.sync().await?;
    flood(&mut n.ws, 50).await?;
    let mut frames = Vec::new();
    loop {
        let f = n.frame().await?;
        let closed = f.starts_with("closed:");
        frames.push(f);
        if closed {
            break;
        }
    }
    let pongs = frames.iter().filter(|f| *f == "pong").count();
    assert!((5..50).contains(&pongs), "{frames:?}");
    let error = frames
        .iter()
        .position(|f| f.starts_with("error:") && f.contains("4006"))
        .context("an error frame says why")?;
    // The burst passes (a token may come back meanwhile at 1 a second).
    let passed = frames[..error].iter().filter(|f| *f == "pong").count();
    assert!((5..=6).contains(&passed), "{frames:?}");
    assert_eq!(frames.last().map(String::as_str), Some("closed:4003"));

    let skey = r.login("flooder").await?;
    let mut t = r.tunnel(&skey).await?;
    flood(&mut t.ws, 50).await?;
    let mut seen = Vec::new();
    loop {
        let s = t.next().await?;
        let closed = matches!(s, Seen::Closed(_));
        seen.push(s);
        if closed {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Text(t) if t.starts_with("error:") && t.contains("4006"))),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&Seen::Closed(Some(4003))));
    r.stop().await
}

#[tokio::test]
async fn a_deleted_and_recreated_user_gets_a_new_epoch() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut n, reply) = r.native_user("eve", "device-eve").await?;
    let epoch = epoch_of(&reply);
    for i in 1..=3 {
        r.push("eve", "old", json!(i)).await?;
        assert_eq!(n.publication().await?["seq"], i);
    }
    drop(n);
    let (st, body) = r.api("DELETE", "/users/eve", None).await?;
    assert_eq!(st, 200, "{body}");

    // Re-created with the same id: seqs start again at 1.
    for i in 1..=3 {
        assert_eq!(r.push("eve", "new", json!(i)).await?["seq"], i);
    }
    r.api("PUT", "/users/eve/key", Some(json!({"key": "key-of-eve"})))
        .await?;
    let (mut n, reply) =
        auth_since(&r, "eve", "device-eve", json!({"seq": 3, "epoch": epoch})).await?;
    assert_eq!(reply["result"]["personal"]["recovered"], false, "{reply}");
    assert_ne!(epoch_of(&reply), epoch);
    for i in 1..=3 {
        let p = n.publication().await?;
        assert_eq!((&p["event"], &p["data"]), (&json!("new"), &json!(i)));
    }
    r.stop().await
}

#[tokio::test]
async fn a_visitor_merge_gives_the_user_a_new_epoch() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut n, reply) = r.native_user("mia", "device-mia").await?;
    let epoch = epoch_of(&reply);
    r.push("mia", "own", json!(1)).await?;
    assert_eq!(n.publication().await?["seq"], 1);
    drop(n);
    r.push("visitor:v1", "visit", json!(1)).await?;
    let (st, body) = r
        .api(
            "POST",
            "/users/mia/merge",
            Some(json!({"visitor_id": "visitor:v1"})),
        )
        .await?;
    assert_eq!(st, 200, "{body}");
    let (_, reply) = auth_since(&r, "mia", "device-mia", json!({"seq": 1, "epoch": epoch})).await?;
    assert_eq!(reply["result"]["personal"]["recovered"], false, "{reply}");
    assert_ne!(epoch_of(&reply), epoch);
    r.stop().await
}

#[tokio::test]
async fn another_user_naming_a_device_does_not_move_its_cursor() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut a, _) = r.native_user("ann", "shared-device").await?;
    for i in 1..=2 {
        r.push("ann", "e", json!(i)).await?;
        assert_eq!(a.publication().await?["seq"], i);
    }
    // A cursor moves when the client says it has the message.
    a.send(r#"ack:{"seq":2}"#).await?;
    a.sync().await?;
    drop(a);
    // Ann's other device gets 3 and 4: what "some device of ann" has received moves past
    // the shared device's own cursor.
    r.push("ann", "e", json!(3)).await?;
    r.push("ann", "e", json!(4)).await?;
    let (mut other, _) = r.native_user("ann", "ann-phone").await?;
    assert_eq!(other.publication().await?["seq"], 3);
    assert_eq!(other.publication().await?["seq"], 4);
    other.sync().await?;
    drop(other);

    let (mut b, _) = r.native_user("ben", "shared-device").await?;
    r.push("ben", "e", json!(1)).await?;
    assert_eq!(b.publication().await?["seq"], 1);
    b.send(r#"ack:{"seq":1}"#).await?;
    b.sync().await?;
    drop(b);

    // Ann's shared device resumes from its own cursor (2), not from wherever Ben's is.
    let (mut a, _) = r.native_user("ann", "shared-device").await?;
    assert_eq!(a.publication().await?["seq"], 3);
    assert_eq!(a.publication().await?["seq"], 4);
    a.sync().await?;
    assert!(a.drain().is_empty());
    r.stop().await
}
