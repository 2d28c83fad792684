//! Acknowledged tunnel messages: a client `message` with an `id` gets a `reply` once the
//! webhook queue took it, or an error when nobody can receive it; without an `id` (the real
//! `wafer2-client-sdk`) nothing changes.

mod common;

use anyhow::{Context, Result};
use common::{TestRelay, WAIT};
use serde_json::{Value, json};

fn reply(text: &str) -> Result<Value> {
    let body = text
        .strip_prefix("reply:")
        .with_context(|| format!("expected a reply, got {text}"))?;
    Ok(serde_json::from_str(body)?)
}

#[tokio::test]
async fn without_a_webhook_an_acknowledged_message_is_refused() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("ack1").await?;
    let mut t = r.tunnel(&s).await?;
    // Wafer's SDK sends no id: no answer at all, as before.
    t.send(r#"message:{"type":"speak","content":1}"#).await?;
    t.sync().await?;
    t.send(r#"message:{"type":"speak","content":1,"id":5}"#)
        .await?;
    let r5 = reply(&t.text().await?)?;
    assert_eq!(r5["id"], 5);
    assert_eq!(r5["error"]["code"], 4008, "{r5}");
    // A bad message whose id can be read is answered in its reply.
    t.send(r#"message:{"content":1,"id":6}"#).await?;
    let r6 = reply(&t.text().await?)?;
    assert_eq!((&r6["id"], &r6["error"]["code"]), (&json!(6), &json!(4000)));
    r.stop().await
}

#[tokio::test]
async fn with_a_webhook_the_reply_follows_the_queueing() -> Result<()> {
    let (url, mut events) = common::webhook::sink().await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
    })
    .await?;
    let s = r.login("ack2").await?;
    let mut t = r.tunnel(&s).await?;
    t.send(r#"message:{"type":"speak","content":{"w":"hi"},"id":9}"#)
        .await?;
    assert_eq!(reply(&t.text().await?)?, json!({"id": 9, "result": {}}));
    let mut messages = Vec::new();
    while messages.is_empty() {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await?
            .context("sink closed")?;
        if ev["type"] == "message" {
            messages.push(ev["message"].clone());
        }
    }
    // The id is the client's business: the back end gets Wafer's message.
    assert_eq!(messages, [json!({"type": "speak", "content": {"w": "hi"}})]);
    r.stop().await
}

/// The next `message` event the webhook got, skipping connect/close.
async fn next_message(events: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Result<Value> {
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await?
            .context("sink closed")?;
        if ev["type"] == "message" {
            return Ok(ev["message"].clone());
        }
    }
}

#[tokio::test]
async fn a_resent_message_reaches_the_back_end_once_per_mid() -> Result<()> {
    let (url, mut events) = common::webhook::sink().await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
    })
    .await?;
    let s = r.login("dedup1").await?;
    let mut t = r.tunnel(&s).await?;
    t.send(r#"message:{"type":"speak","content":1,"id":1,"mid":"m-1"}"#)
        .await?;
    assert_eq!(reply(&t.text().await?)?, json!({"id": 1, "result": {}}));
    // The SDK's resend after a lost socket or a reload: another tunnel, another ack id.
    drop(t);
    let mut t = r.tunnel(&s).await?;
    t.send(r#"message:{"type":"speak","content":1,"id":1,"mid":"m-1"}"#)
        .await?;
    assert_eq!(reply(&t.text().await?)?, json!({"id": 1, "result": {}}));
    t.send(r#"message:{"type":"speak","content":2,"id":2,"mid":"m-2"}"#)
        .await?;
    assert_eq!(reply(&t.text().await?)?, json!({"id": 2, "result": {}}));
    // Another user's key is theirs.
    let other = r.login("dedup2").await?;
    let mut o = r.tunnel(&other).await?;
    o.send(r#"message:{"type":"speak","content":3,"id":1,"mid":"m-1"}"#)
        .await?;
    assert_eq!(reply(&o.text().await?)?, json!({"id": 1, "result": {}}));

    let got = [
        next_message(&mut events).await?,
        next_message(&mut events).await?,
        next_message(&mut events).await?,
    ];
    let contents: Vec<&Value> = got.iter().map(|m| &m["content"]).collect();
    assert_eq!(
        contents,
        [&json!(1), &json!(2), &json!(3)],
        "m-1 once per user"
    );
    // Nothing more: the resend of m-1 was not forwarded.
    o.sync().await?;
    assert!(events.try_recv().map_or(true, |e| e["type"] != "message"));
    // A key the relay cannot keep is refused, not ignored.
    let long = "k".repeat(cometa_protocol::names::MAX_MID_LEN + 1);
    o.send(&format!(
        r#"message:{{"type":"speak","content":4,"id":2,"mid":"{long}"}}"#
    ))
    .await?;
    let bad = reply(&o.text().await?)?;
    assert_eq!(bad["error"]["code"], 4000, "{bad}");
    r.stop().await
}

/// The same for a native `publish` (the SDK's `web_pipe_send`): a resend with the publish's
/// `mid` is stored once and answered with the first one's seq, per sender and channel.
#[tokio::test]
async fn a_resent_publish_is_stored_once_per_mid() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut alice, _) = r.native_user("alice", "device-alice").await?;
    let mut anon = r.native().await?;
    let publish = |mid: &str, data: u32| json!({"channel": "web_room", "event": "say", "data": data, "mid": mid});
    let first = alice.request("publish", publish("k1", 1)).await?;
    assert_eq!(first["result"]["seq"], 1, "{first}");
    let again = alice.request("publish", publish("k1", 1)).await?;
    assert_eq!(again["result"]["seq"], 1, "answered as the first: {again}");
    // Another sender's, or another key: a new message.
    let anon_same_key = anon.request("publish", publish("k1", 2)).await?;
    assert_eq!(anon_same_key["result"]["seq"], 2, "{anon_same_key}");
    let anon_again = anon.request("publish", publish("k1", 2)).await?;
    assert_eq!(anon_again["result"]["seq"], 2, "{anon_again}");
    let next = alice.request("publish", publish("k2", 3)).await?;
    assert_eq!(next["result"]["seq"], 3, "{next}");
    let bad = alice.request("publish", publish("has space", 4)).await?;
    assert_eq!(bad["error"]["code"], 4003, "{bad}");

    let history = alice
        .request("history", json!({"channel": "web_room"}))
        .await?;
    assert_eq!(published_data(&history)?, [1, 2, 3], "{history}");
    r.stop().await
}

/// One sender flooding fresh mids past the global capacity evicts only its own keys: another
/// user's resend still reaches the back end once.
#[tokio::test]
async fn a_flood_of_mids_evicts_only_the_flooders_keys() -> Result<()> {
    let (url, mut events) = common::webhook::sink().await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
        c.dedup_capacity = 4;
        c.dedup_per_sender = 2;
    })
    .await?;
    let alice = r.login("quota-alice").await?;
    let mut a = r.tunnel(&alice).await?;
    let sent = r#"message:{"type":"speak","content":"a","id":1,"mid":"x"}"#;
    a.send(sent).await?;
    assert_eq!(reply(&a.text().await?)?, json!({"id": 1, "result": {}}));
    let mallory = r.login("quota-mallory").await?;
    let mut m = r.tunnel(&mallory).await?;
    for i in 0..10 {
        m.send(&format!(
            r#"message:{{"type":"speak","content":{i},"id":{i},"mid":"f{i}"}}"#
        ))
        .await?;
        assert_eq!(reply(&m.text().await?)?, json!({"id": i, "result": {}}));
    }
    a.send(sent).await?;
    assert_eq!(reply(&a.text().await?)?, json!({"id": 1, "result": {}}));
    // The webhook delivers in order: everything before this one is in when it is.
    a.send(r#"message:{"type":"speak","content":"end","id":2,"mid":"y"}"#)
        .await?;
    assert_eq!(reply(&a.text().await?)?, json!({"id": 2, "result": {}}));

    let mut contents = Vec::new();
    while contents.last() != Some(&json!("end")) {
        contents.push(next_message(&mut events).await?["content"].clone());
    }
    let alices = contents.iter().filter(|c| **c == json!("a")).count();
    assert_eq!(
        alices, 1,
        "alice's resend reached the back end again: {contents:?}"
    );
    r.stop().await
}

/// The same for publishes: an anonymous publisher spreading fresh mids over channels is one
/// sender, and alice's resend is still answered with her first seq, stored once.
#[tokio::test]
async fn a_flood_of_publishes_evicts_only_the_flooders_keys() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.dedup_capacity = 4;
        c.dedup_per_sender = 2;
    })
    .await?;
    let (mut alice, _) = r.native_user("alice", "device-alice").await?;
    let mut anon = r.native().await?;
    let publish = |channel: &str, mid: &str| json!({"channel": channel, "event": "say", "data": mid, "mid": mid});
    let first = alice.request("publish", publish("web_room", "k")).await?;
    assert_eq!(first["result"]["seq"], 1, "{first}");
    for i in 0..10 {
        let channel = ["web_room", "web_a", "web_b"][i % 3];
        let flood = anon
            .request("publish", publish(channel, &format!("f{i}")))
            .await?;
        assert!(flood["result"]["seq"].is_u64(), "{flood}");
    }
    let again = alice.request("publish", publish("web_room", "k")).await?;
    assert_eq!(again["result"]["seq"], 1, "answered as the first: {again}");

    let history = alice
        .request("history", json!({"channel": "web_room", "limit": 1000}))
        .await?;
    let alices = published_data(&history)?
        .iter()
        .filter(|d| *d == "k")
        .count();
    assert_eq!(alices, 1, "{history}");
    r.stop().await
}

/// An anonymous client may name its device anything, a user's id too: its publish keys must
/// not be that user's, or it could claim a user's mid first and the user's publish would be
/// answered without being stored.
#[tokio::test]
async fn an_anonymous_device_named_like_a_user_does_not_share_its_publish_keys() -> Result<()> {
    let r = TestRelay::start().await?;
    let mut anon = r.native().await?;
    // No credentials: the connection stays anonymous, with the device it named.
    let _ = anon.request("auth", json!({"device": "alice123"})).await?;
    let publish =
        |data: &str| json!({"channel": "web_room", "event": "say", "data": data, "mid": "k"});
    let first = anon.request("publish", publish("anon")).await?;
    assert_eq!(first["result"]["seq"], 1, "{first}");
    let (mut alice, _) = r.native_user("alice123", "device-alice").await?;
    let hers = alice.request("publish", publish("alice")).await?;
    assert_eq!(
        hers["result"]["seq"], 2,
        "stored, not taken for a resend: {hers}"
    );
    let history = alice
        .request("history", json!({"channel": "web_room", "limit": 10}))
        .await?;
    assert_eq!(published_data(&history)?, ["anon", "alice"], "{history}");
    r.stop().await
}

/// The `data` of each publication in a `history` reply, oldest first.
fn published_data(history: &Value) -> Result<Vec<Value>> {
    Ok(history["result"]["publications"]
        .as_array()
        .context("publications")?
        .iter()
        .map(|p| p["data"].clone())
        .collect())
}
