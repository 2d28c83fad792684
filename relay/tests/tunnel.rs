//! Tunnels over real WebSockets: Wafer packets, personal delivery, offline queue, closes.

mod common;

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use common::SinkExt;
use common::{Seen, TestRelay};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[tokio::test]
async fn ping_pong_and_pushes_in_wafer_shape() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("u1").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    let res = r.push("u1", "chat", json!({"text": "hi: there"})).await?;
    assert_eq!(res, json!({"seq": 1, "delivered": 1}));
    assert_eq!(
        t.message().await?,
        ("chat".into(), json!({"text": "hi: there"}))
    );
    // Reserved Wafer event names travel as they are; the SDK escapes them to `@close`. The
    // personal stream's seq rides along for the SDK's dedup; Wafer clients ignore it.
    r.push("u1", "close", json!(null)).await?;
    assert_eq!(
        t.text().await?,
        r#"message:{"type":"close","content":null,"seq":2}"#
    );
    t.sync().await?;
    r.stop().await
}

#[tokio::test]
async fn offline_queue_is_delivered_in_order_exactly_once() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("u2").await?;
    for i in 1..=5 {
        assert_eq!(
            r.push("u2", "n", json!(i)).await?,
            json!({"seq": i, "delivered": 0})
        );
    }
    let mut t = r.tunnel(&skey).await?;
    for i in 1..=5 {
        assert_eq!(t.message().await?, ("n".into(), json!(i)));
    }
    assert_eq!(r.push("u2", "n", json!(6)).await?["delivered"], 1);
    assert_eq!(t.message().await?, ("n".into(), json!(6)));
    t.sync().await?;
    drop(t);

    // Same device again: nothing is replayed twice.
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    r.push("u2", "n", json!(7)).await?;
    assert_eq!(t.message().await?, ("n".into(), json!(7)));
    r.stop().await
}

#[tokio::test]
async fn every_device_gets_personal_messages_and_catches_up() -> Result<()> {
    let r = TestRelay::start().await?;
    let (phone, laptop) = (r.login("u3").await?, r.login("u3").await?);
    let mut a = r.tunnel(&phone).await?;
    let mut b = r.tunnel(&laptop).await?;
    a.sync().await?;
    b.sync().await?;
    assert_eq!(r.push("u3", "x", json!(1)).await?["delivered"], 2);
    assert_eq!(a.message().await?.1, json!(1));
    assert_eq!(b.message().await?.1, json!(1));
    // Reading on past the message answers the relay's fence after it: the laptop's cursor
    // moves to 1 only once the relay knows the laptop has it.
    b.sync().await?;
    b.ws.close(None).await?;
    while !matches!(b.next().await?, Seen::Closed(_)) {}
    let presence = wait_devices(&r, "u3", 1).await?;
    assert_eq!(presence["online"], true);

    // The laptop misses two messages while away and gets them, and only them, on return.
    r.push("u3", "x", json!(2)).await?;
    r.push("u3", "x", json!(3)).await?;
    assert_eq!(a.message().await?.1, json!(2));
    assert_eq!(a.message().await?.1, json!(3));
    let mut b = r.tunnel(&laptop).await?;
    assert_eq!(b.message().await?.1, json!(2));
    assert_eq!(b.message().await?.1, json!(3));
    b.sync().await?;
    r.stop().await
}

async fn wait_devices(r: &TestRelay, user: &str, want: u64) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let (_, p) = r
            .api("GET", &format!("/users/{user}/presence"), None)
            .await?;
        if p["devices"] == want {
            return Ok(p);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "presence stuck at {p}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn tunnel_messages_broadcast_and_presence() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("u4").await?;
    let mut t = r.tunnel(&s).await?;
    t.sync().await?;
    let (st, body) = r
        .api(
            "POST",
            &format!("/tunnels/{}/messages", t.id),
            Some(json!({"type": "hello", "content": [1, 2]})),
        )
        .await?;
    assert_eq!((st, body), (200, json!({"delivered": 1})));
    assert_eq!(t.message().await?, ("hello".into(), json!([1, 2])));
    let (st, body) = r
        .api(
            "POST",
            "/broadcast",
            Some(json!({"tunnel_ids": [t.id, "gone"], "type": "all", "content": "x"})),
        )
        .await?;
    assert_eq!(
        (st, body),
        (200, json!({"delivered": 1, "invalid_tunnel_ids": ["gone"]}))
    );
    assert_eq!(t.message().await?, ("all".into(), json!("x")));
    let (_, body) = r
        .api("POST", "/broadcast", Some(json!({"type": "all"})))
        .await?;
    assert_eq!(body["delivered"], 1);
    assert_eq!(t.message().await?, ("all".into(), Value::Null));
    let (_, p) = r.api("GET", "/users/u4/presence", None).await?;
    assert_eq!((&p["online"], &p["devices"]), (&json!(true), &json!(1)));
    let (_, p) = r.api("GET", "/users/nobody/presence", None).await?;
    assert_eq!(p, json!({"online": false, "devices": 0, "last_seen": null}));
    r.stop().await
}

#[tokio::test]
async fn back_end_close_and_revocation_send_close_first() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("u5").await?;
    let mut t = r.tunnel(&s).await?;
    t.sync().await?;
    let (st, _) = r.api("DELETE", &format!("/tunnels/{}", t.id), None).await?;
    assert_eq!(st, 200);
    assert_eq!(t.text().await?, "close");
    assert_eq!(t.next().await?, Seen::Closed(Some(4501)));

    let mut t = r.tunnel(&s).await?;
    t.sync().await?;
    let (_, body) = r.api("DELETE", "/users/u5/sessions", None).await?;
    assert_eq!(body, json!({"revoked_sessions": 1, "closed_tunnels": 1}));
    assert_eq!(t.text().await?, "close");
    assert_eq!(t.next().await?, Seen::Closed(Some(4502)));
    let (st, _) = r.weapp("/weapp/tunnel", "X-WX-Skey", &s).await?;
    assert_eq!(st, 401);
    r.stop().await
}

#[tokio::test]
async fn tickets_are_single_use() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("u6").await?;
    let (_, body) = r.weapp("/weapp/tunnel", "X-WX-Skey", &s).await?;
    let url = body["data"]["connectUrl"]
        .as_str()
        .context("url")?
        .to_string();
    assert!(!url.contains(&s), "the skey must never be in the URL");
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_ok());
    let again = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(format!("{:?}", again.err()).contains("401"));
    let bare = url.split('?').next().unwrap_or_default().to_string();
    assert!(
        tokio_tungstenite::connect_async(bare.as_str())
            .await
            .is_err()
    );
    r.stop().await
}

#[tokio::test]
async fn garbage_frames_get_error_packets_and_oversized_ones_close() -> Result<()> {
    let r = TestRelay::start_with(|c| c.max_frame_bytes = 1024).await?;
    let s = r.login("u7").await?;
    let mut t = r.tunnel(&s).await?;
    for bad in [
        "wat",
        "message:",
        "message:{nope",
        r#"message:{"type":""}"#,
        "message:[1]",
    ] {
        t.send(bad).await?;
        let reply = t.text().await?;
        let body: Value =
            serde_json::from_str(reply.strip_prefix("error:").context(reply.clone())?)?;
        assert!(
            body["code"]
                .as_u64()
                .is_some_and(|c| (4000..4100).contains(&c)),
            "{body}"
        );
        assert!(body["message"].as_str().is_some(), "{body}");
    }
    t.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![
        1, 2, 3,
    ]))
    .await?;
    assert!(t.text().await?.starts_with("error:"));
    t.sync().await?;
    t.send(&format!(
        "message:{{\"type\":\"x\",\"content\":\"{}\"}}",
        "y".repeat(4096)
    ))
    .await?;
    assert!(matches!(t.next().await?, Seen::Closed(Some(1008 | 1009))));
    r.stop().await
}

#[tokio::test]
async fn device_cap_refuses_one_more_tunnel() -> Result<()> {
    let r = TestRelay::start_with(|c| c.max_devices_per_user = 2).await?;
    let s = r.login("u8").await?;
    let mut a = r.tunnel(&s).await?;
    let mut b = r.tunnel(&s).await?;
    a.sync().await?;
    b.sync().await?;
    let mut c = r.tunnel(&s).await?;
    assert_eq!(
        c.text().await?,
        "close",
        "terminal: the Wafer SDK must not reconnect"
    );
    assert_eq!(c.next().await?, Seen::Closed(Some(4503)));
    r.stop().await
}

#[tokio::test]
async fn client_close_packet_ends_the_tunnel() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("u9").await?;
    let mut t = r.tunnel(&s).await?;
    t.send("close").await?;
    assert_eq!(t.next().await?, Seen::Closed(Some(1000)));
    r.stop().await
}

#[tokio::test]
async fn relay_shutdown_closes_with_a_reconnect_code() -> Result<()> {
    let r = TestRelay::start().await?;
    let s = r.login("u10").await?;
    let mut t = r.tunnel(&s).await?;
    t.sync().await?;
    let stop = tokio::spawn(r.stop());
    assert_eq!(t.next().await?, Seen::Closed(Some(1001)));
    stop.await??;
    Ok(())
}

/// A webhook receiver: collects `(signature header, body)`.
async fn webhook_sink() -> Result<(String, mpsc::UnboundedReceiver<(String, Value)>)> {
    flaky_webhook_sink(0).await
}

/// A webhook receiver that answers 500 to its first `failures` requests.
async fn flaky_webhook_sink(
    failures: usize,
) -> Result<(String, mpsc::UnboundedReceiver<(String, Value)>)> {
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(Mutex::new(tx));
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                let call = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if call < failures {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let valid = common::signed::signed(&headers, &body, "hook-secret");
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let tag = if valid { "valid" } else { "INVALID" };
                    let _ = tx.lock().map(|t| t.send((tag.to_string(), v)));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, rx))
}

#[tokio::test]
async fn webhook_gets_signed_connect_message_close() -> Result<()> {
    let (url, mut events) = webhook_sink().await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
    })
    .await?;
    let s = r.login("w1").await?;
    let mut t = r.tunnel(&s).await?;
    let mut next = async || {
        tokio::time::timeout(common::WAIT, events.recv())
            .await
            .ok()
            .flatten()
            .context("no webhook event")
    };
    let (sig, ev) = next().await?;
    assert_eq!(sig, "valid");
    assert_eq!(
        ev,
        json!({"type": "connect", "tunnel_id": t.id, "user_id": "w1"})
    );
    t.send(r#"message:{"type":"speak","content":{"word":"hi"}}"#)
        .await?;
    let (sig, ev) = next().await?;
    assert_eq!(sig, "valid");
    assert_eq!(
        ev,
        json!({"type": "message", "tunnel_id": t.id, "user_id": "w1",
               "message": {"type": "speak", "content": {"word": "hi"}}})
    );
    t.send("close").await?;
    let (_, ev) = next().await?;
    assert_eq!(ev["type"], "close");
    r.stop().await
}

#[tokio::test]
async fn webhook_retries_after_failures_and_keeps_order() -> Result<()> {
    let (url, mut events) = flaky_webhook_sink(2).await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
    })
    .await?;
    let s = r.login("w2").await?;
    let mut t = r.tunnel(&s).await?;
    // The tunnel works while the webhook is failing.
    t.send(r#"message:{"type":"a","content":1}"#).await?;
    t.sync().await?;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let (sig, ev) = tokio::time::timeout(common::WAIT, events.recv())
            .await?
            .context("no webhook event")?;
        assert_eq!(sig, "valid");
        kinds.push(ev["type"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        kinds,
        ["connect", "message"],
        "delivered after retries, in order"
    );
    r.stop().await
}
