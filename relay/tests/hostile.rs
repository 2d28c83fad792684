//! Hostile input against a live relay: payloads no parser can rebuild, JSON nested past the
//! limit, panics inside a connection task or a handler, channel names by the thousand, and
//! histories larger than a socket's write buffer.

mod common;

use anyhow::{Context, Result, bail};
use common::{KEY, Native, TestRelay, WAIT};
use serde_json::{Value, json};

/// `levels` nested arrays around an object, with spacing a parser would not keep.
fn nested(levels: usize) -> String {
    format!(
        "{}{{ \"k\" : \"v\" }}{}",
        "[ ".repeat(levels),
        " ]".repeat(levels)
    )
}

/// Sends `kind:{body}` with `"data"` spliced in as raw text, and returns the raw reply frame.
async fn raw_request(n: &mut Native, kind: &str, id: u64, body: &str) -> Result<String> {
    n.send(&format!("{kind}:{{\"id\":{id},{body}}}")).await?;
    loop {
        let f = n.frame().await?;
        if f.starts_with(&format!("reply:{{\"id\":{id},")) {
            return Ok(f);
        }
        if f.starts_with("closed:") {
            bail!("closed while waiting for reply {id}: {f}");
        }
    }
}

#[tokio::test]
async fn a_payload_deeper_than_any_parser_comes_back_byte_identical() -> Result<()> {
    // Stored as a relay without the ingress limit would have stored it.
    let r = TestRelay::start_with(|c| c.max_json_depth = 1000).await?;
    let deep = nested(200);
    let mut n = r.native().await?;
    let reply = raw_request(
        &mut n,
        "publish",
        1,
        &format!("\"channel\":\"web_deep\",\"event\":\"e\",\"data\":{deep}"),
    )
    .await?;
    assert!(reply.contains("\"result\":{\"seq\":1}"), "{reply}");

    // Native history answers, twice (the first panicked before), with the bytes as sent.
    for id in [2, 3] {
        let reply = raw_request(&mut n, "history", id, "\"channel\":\"web_deep\"").await?;
        assert!(
            reply.contains(&format!("\"data\":{deep},\"seq\":1")),
            "native history: {}",
            &reply[..reply.len().min(200)]
        );
    }
    // So does the API.
    let res = r
        .http
        .get(r.url("/api/v1/channels/web_deep/history"))
        .bearer_auth(KEY)
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let body = res.text().await?;
    assert!(
        body.contains(&format!("\"data\":{deep},\"seq\":1")),
        "API history"
    );
    // And the connection that asked is still served.
    n.sync().await?;
    r.stop().await
}

#[tokio::test]
async fn json_nested_past_the_limit_is_refused_on_every_way_in() -> Result<()> {
    let r = TestRelay::start_with(|c| c.max_json_depth = 8).await?;
    let ok = nested(6);
    let deep = nested(8);

    // A native request: a reply with the request's id and a clear error.
    let mut n = r.native().await?;
    let reply = raw_request(
        &mut n,
        "publish",
        1,
        &format!("\"channel\":\"web_x\",\"event\":\"e\",\"data\":{deep}"),
    )
    .await?;
    let v: Value = serde_json::from_str(reply.trim_start_matches("reply:"))?;
    assert_eq!(v["error"]["code"], 4003, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested deeper than 8 levels")),
        "{v}"
    );
    let reply = raw_request(
        &mut n,
        "publish",
        2,
        &format!("\"channel\":\"web_x\",\"event\":\"e\",\"data\":{ok}"),
    )
    .await?;
    assert!(reply.contains("\"result\":{\"seq\":1}"), "{reply}");
    // A frame without an id to answer: an `error` packet, and the connection stays.
    n.send(&format!("publish:{deep}")).await?;
    let f = n.frame().await?;
    assert!(
        f.starts_with("error:") && f.contains("nested deeper"),
        "{f}"
    );
    n.sync().await?;

    // A first frame (`auth`) too.
    let mut a = r.native().await?;
    let reply = raw_request(&mut a, "auth", 7, &format!("\"user_id\":{deep}")).await?;
    assert!(reply.contains("nested deeper"), "{reply}");

    // A Wafer tunnel's client message.
    let skey = r.login("w").await?;
    let mut t = r.tunnel(&skey).await?;
    t.send(&format!("message:{{\"type\":\"e\",\"content\":{deep}}}"))
        .await?;
    let f = t.text().await?;
    assert!(
        f.starts_with("error:") && f.contains("nested deeper"),
        "{f}"
    );

    // Every JSON endpoint: 400 with the usual body, before the handler runs.
    let (st, body) = r
        .api(
            "POST",
            "/channels/web_x/messages",
            Some(json!({"event": "e", "data": serde_json::from_str::<Value>(&deep)?})),
        )
        .await?;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["code"], 400);
    assert_eq!(body["error"], "ERR_BAD_REQUEST");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested deeper than 8 levels")),
        "{body}"
    );
    let (st, _) = r
        .api(
            "POST",
            "/users/u1/messages",
            Some(json!({"event": "e", "data": serde_json::from_str::<Value>(&deep)?})),
        )
        .await?;
    assert_eq!(st, 400);
    let res = r
        .http
        .post(r.url("/weapp/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"ignored\":{deep}}}"))
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    assert!(res.text().await?.contains("nested deeper"));
    r.stop().await
}

/// Sends the test hook's panic frame and waits for the socket to go.
async fn panic_connection(n: &mut Native) -> Result<()> {
    n.send(cometa_relay::test_hooks::PANIC_PACKET).await?;
    match n.frame().await {
        Ok(f) if f.starts_with("closed:") => Ok(()),
        Ok(f) => bail!("expected the socket to end, got {f}"),
        // A reset without a closing handshake is what a dropped task looks like.
        Err(e) if e.to_string().contains("socket error") => Ok(()),
        Err(e) => Err(e),
    }
}

#[tokio::test]
async fn a_panicking_connection_task_frees_its_device_and_connection_slots() -> Result<()> {
    let (r, app) = TestRelay::start_exposed(|c| {
        c.max_devices_per_user = 16;
        c.max_connections = 17;
    })
    .await?;
    for i in 0..16 {
        let (mut n, reply) = r.native_user("u", &format!("device-{i:04}")).await?;
        assert_eq!(reply["result"]["user_id"], "u", "{reply}");
        panic_connection(&mut n).await?;
    }
    let mut anon = r.native().await?;
    anon.request("presence", json!({"channel": "web_x"}))
        .await?;
    panic_connection(&mut anon).await?;
    assert_eq!(app.hub.live(), 0, "every panicked connection left the hub");
    assert_eq!(app.hub.devices("u"), 0);

    // The 17th device is accepted, and the connection limit has room for it.
    let (mut n, reply) = r.native_user("u", "device-0017").await?;
    assert_eq!(reply["result"]["user_id"], "u", "{reply}");
    n.sync().await?;
    r.stop().await
}

#[tokio::test]
async fn a_panicking_tunnel_frees_its_device_slot_and_tells_the_back_end() -> Result<()> {
    let (url, mut events) = common::webhook::sink().await?;
    let r = TestRelay::start_with(|c| {
        c.max_devices_per_user = 1;
        c.webhook_url = url.parse().ok();
    })
    .await?;
    let mut next = async || {
        tokio::time::timeout(WAIT, events.recv())
            .await
            .ok()
            .flatten()
            .context("no webhook event")
    };
    let skey = r.login("t").await?;
    let mut t = r.tunnel(&skey).await?;
    assert_eq!(next().await?["type"], "connect");
    t.send(cometa_relay::test_hooks::PANIC_PACKET).await?;
    match t.next().await {
        Ok(common::Seen::Closed(_)) => {}
        Err(e) if e.to_string().contains("socket error") => {}
        other => bail!("expected the socket to end, got {other:?}"),
    }
    let ev = next().await?;
    assert_eq!(
        (ev["type"].as_str(), ev["tunnel_id"].as_str()),
        (Some("close"), Some(t.id.as_str()))
    );
    // The user's only device slot is free again.
    let mut again = r.tunnel(&skey).await?;
    again.sync().await?;
    r.stop().await
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_relay_keeps_serving() -> Result<()> {
    let r = TestRelay::start().await?;
    let res = r.http.get(r.url("/test-hooks/panic")).send().await?;
    assert_eq!(res.status(), 500);
    let body: Value = res.json().await?;
    assert_eq!(
        body,
        json!({"code": 500, "error": "ERR_INTERNAL", "message": "internal error"})
    );
    let res = r.http.get(r.url("/healthz")).send().await?;
    assert_eq!(res.status(), 200);
    r.stop().await
}

#[tokio::test]
async fn channel_names_nobody_subscribes_to_cost_the_hub_nothing() -> Result<()> {
    // Thousands of requests in a few seconds: lift the per-connection frame rate limit, which
    // would otherwise (rightly) refuse them before they reach the hub.
    let (r, app) = TestRelay::start_exposed(|c| {
        c.frame_rate = 1_000_000;
        c.frame_burst = 1_000_000;
    })
    .await?;
    let mut n = r.native().await?;
    assert_eq!(
        n.request("subscribe", json!({"channel": "web_kept"}))
            .await?["result"]["recovered"],
        true
    );
    let before = app.hub.channel_count();
    assert_eq!(before, 1);
    for i in 0..3000 {
        let channel = format!("web_{i}_{}", "x".repeat(100));
        let reply = n
            .request("unsubscribe", json!({ "channel": channel }))
            .await?;
        assert_eq!(reply["result"], json!({}), "{reply}");
        n.request("presence", json!({ "channel": channel })).await?;
        if i % 30 == 0 {
            n.request("history", json!({ "channel": channel })).await?;
        }
    }
    // Names outside the protocol's rules are refused, not looked up.
    for name in ["x".repeat(60 * 1024), "a.b".into(), String::new()] {
        let reply = n.request("unsubscribe", json!({ "channel": name })).await?;
        assert_eq!(
            reply["error"]["code"],
            4003,
            "{}",
            reply.to_string().chars().take(100).collect::<String>()
        );
    }
    assert_eq!(app.hub.channel_count(), before, "nothing was added");

    // The entry goes with its last subscriber.
    let mut m = r.native().await?;
    m.request("subscribe", json!({"channel": "web_kept"}))
        .await?;
    n.request("unsubscribe", json!({"channel": "web_kept"}))
        .await?;
    assert_eq!(app.hub.channel_count(), 1, "one subscriber left");
    m.request("unsubscribe", json!({"channel": "web_kept"}))
        .await?;
    assert_eq!(app.hub.channel_count(), 0);
    r.stop().await
}

#[tokio::test]
async fn a_history_larger_than_the_write_buffer_arrives_across_pages() -> Result<()> {
    let r = TestRelay::start().await?;
    let big = "y".repeat(30 * 1024);
    let count = 30u64;
    for i in 1..=count {
        let (st, body) = r
            .api(
                "POST",
                "/channels/web_big/messages",
                Some(json!({"event": "e", "data": {"i": i, "pad": big}})),
            )
            .await?;
        assert_eq!(st, 200, "{body}");
    }

    // Native: ~900 KiB asked at once, more than the 256 KiB write buffer.
    let mut n = r.native().await?;
    let mut seqs = Vec::new();
    let mut before = None::<u64>;
    let mut pages = 0;
    loop {
        let mut req = json!({"channel": "web_big", "limit": count as usize - seqs.len()});
        if let Some(b) = before {
            req["before"] = json!(b);
        }
        let reply = n.request("history", req).await?;
        let page = &reply["result"];
        let pubs = page["publications"].as_array().context("publications")?;
        assert!(!pubs.is_empty(), "{page}");
        let mut got: Vec<u64> = pubs.iter().filter_map(|p| p["seq"].as_u64()).collect();
        for p in pubs {
            assert_eq!(p["data"]["pad"], big.as_str());
            assert_eq!(p["data"]["i"], p["seq"]);
        }
        before = got.first().copied();
        got.extend(seqs);
        seqs = got;
        pages += 1;
        if page["more"] == false || seqs.len() as u64 == count {
            break;
        }
        assert!(pages < 100, "paging must move on");
    }
    assert_eq!(
        seqs,
        (1..=count).collect::<Vec<_>>(),
        "every message, in order"
    );
    assert!(pages > 1, "paged by size: {pages}");

    // The API pages the same way.
    let mut all = Vec::new();
    let mut path = format!("/channels/web_big/history?limit={count}");
    loop {
        let (st, page) = r.api("GET", &path, None).await?;
        assert_eq!(st, 200);
        let mut got: Vec<u64> = page["publications"]
            .as_array()
            .context("publications")?
            .iter()
            .filter_map(|p| p["seq"].as_u64())
            .collect();
        let first = got.first().copied().context("a page is never empty")?;
        got.extend(all);
        all = got;
        if page["more"] == false {
            break;
        }
        path = format!(
            "/channels/web_big/history?limit={}&before={first}",
            count as usize - all.len()
        );
    }
    assert_eq!(all, (1..=count).collect::<Vec<_>>());
    tokio::time::timeout(WAIT, n.sync()).await??;

    // A personal stream pages the same way.
    let (mut me, _) = r.native_user("big", "device-big").await?;
    for i in 1..=10 {
        r.push("big", "e", json!({"i": i, "pad": big})).await?;
        me.publication().await?;
    }
    let mut seqs = Vec::new();
    let mut req = json!({"channel": "msg", "limit": 10});
    loop {
        let reply = me.request("history", req.clone()).await?;
        let page = &reply["result"];
        let mut got: Vec<u64> = page["publications"]
            .as_array()
            .context("publications")?
            .iter()
            .filter_map(|p| p["seq"].as_u64())
            .collect();
        let first = got.first().copied().context("a page is never empty")?;
        got.extend(seqs);
        seqs = got;
        if page["more"] == false {
            break;
        }
        req = json!({"channel": "msg", "limit": 10 - seqs.len(), "before": first});
    }
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    r.stop().await
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_the_error_envelope() -> Result<()> {
    // Found by the relay_http fuzz target: axum's own rejection is plain text.
    let r = TestRelay::start().await?;
    for (method, path) in [
        ("POST", "/users/%FF%01/merge"),
        ("GET", "/users/%C3%28/presence"),
        ("POST", "/channels/web_%FF/messages"),
    ] {
        let (st, body) = r
            .api(method, path, Some(json!({"event": "e", "data": 1})))
            .await?;
        assert_eq!(st, 400, "{method} {path}: {body}");
        assert_eq!(body["error"], "ERR_BAD_REQUEST", "{method} {path}: {body}");
        assert_eq!(body["code"], 400, "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
    r.stop().await
}
