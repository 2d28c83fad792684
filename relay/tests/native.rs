//! The native dialect at `/connect`: auth, channels and their rules, recovery, presence.

mod common;

use anyhow::Result;
use common::TestRelay;
use serde_json::{Value, json};

#[tokio::test]
async fn auth_with_user_key_and_personal_stream() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut n, reply) = r.native_user("42", "device-aaaa").await?;
    assert_eq!(reply["result"]["user_id"], "42");
    assert_eq!(reply["result"]["device"], "device-aaaa");
    assert_eq!(reply["result"]["personal"]["recovered"], true);
    let epoch = reply["result"]["personal"]["epoch"].clone();
    assert!(epoch.as_str().is_some_and(|e| !e.is_empty()));

    assert_eq!(
        r.push("42", "hello", json!({"a": 1})).await?["delivered"],
        1
    );
    let p = n.publication().await?;
    assert_eq!(
        p,
        json!({"channel": "msg", "event": "hello", "data": {"a": 1}, "seq": 1})
    );

    // A wrong key is refused and the connection stays anonymous.
    let mut bad = r.native().await?;
    let reply = bad
        .request("auth", json!({"user_id": "42", "user_key": "nope"}))
        .await?;
    assert_eq!(reply["error"]["code"], 4004);
    let reply = bad.request("history", json!({"channel": "msg"})).await?;
    assert_eq!(
        reply["error"]["code"], 4005,
        "anonymous has no personal stream"
    );
    r.stop().await
}

#[tokio::test]
async fn personal_recovery_after_reconnect_and_gap_outside_retention() -> Result<()> {
    let r = TestRelay::start_with(|c| c.queue_max_len = 3).await?;
    let (mut n, reply) = r.native_user("7", "device-bbbb").await?;
    let epoch = reply["result"]["personal"]["epoch"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    r.push("7", "e", json!(1)).await?;
    assert_eq!(n.publication().await?["seq"], 1);
    drop(n);

    // Two missed messages, inside retention: replayed in order, recovered.
    r.push("7", "e", json!(2)).await?;
    r.push("7", "e", json!(3)).await?;
    let mut n = r.native().await?;
    let key = "key-of-7";
    let reply = n
        .request(
            "auth",
            json!({"user_id": "7", "user_key": key, "device": "device-bbbb",
                                "since": {"seq": 1, "epoch": epoch}}),
        )
        .await?;
    assert_eq!(reply["result"]["personal"]["recovered"], true);
    assert_eq!(n.publication().await?["data"], 2);
    assert_eq!(n.publication().await?["data"], 3);
    n.sync().await?;
    assert!(n.drain().is_empty(), "nothing twice");
    drop(n);

    // Five more missed with retention 3: the gap is outside retention and says so.
    for i in 4..=8 {
        r.push("7", "e", json!(i)).await?;
    }
    let mut n = r.native().await?;
    let reply = n
        .request(
            "auth",
            json!({"user_id": "7", "user_key": key, "device": "device-bbbb",
                                "since": {"seq": 3, "epoch": epoch}}),
        )
        .await?;
    assert_eq!(reply["result"]["personal"]["recovered"], false);
    // A stale epoch is never resumed as if it were current.
    let mut m = r.native().await?;
    let reply = m
        .request(
            "auth",
            json!({"user_id": "7", "user_key": key, "device": "device-cccc",
                                "since": {"seq": 8, "epoch": "other-epoch"}}),
        )
        .await?;
    assert_eq!(reply["result"]["personal"]["recovered"], false);
    r.stop().await
}

#[tokio::test]
async fn web_channels_stamp_the_sender_and_rules_hold() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut alice, _) = r.native_user("alice", "device-alice").await?;
    let mut anon = r.native().await?;
    for n in [&mut alice, &mut anon] {
        let reply = n
            .request("subscribe", json!({"channel": "web_room"}))
            .await?;
        assert_eq!(reply["result"]["recovered"], true, "{reply}");
    }
    let reply = alice
        .request(
            "publish",
            json!({"channel": "web_room", "event": "say", "data": {"t": "hi"}}),
        )
        .await?;
    assert_eq!(reply["result"]["seq"], 1);
    for n in [&mut alice, &mut anon] {
        let p = n.publication().await?;
        assert_eq!(p["user_id"], "alice", "stamped by the relay");
        assert_eq!(p["data"], json!({"t": "hi"}));
    }
    // A client cannot pretend to be someone else: unknown fields are refused.
    let reply = anon
        .request(
            "publish",
            json!({"channel": "web_room", "event": "say", "data": 1, "user_id": "alice"}),
        )
        .await?;
    assert_eq!(reply["error"]["code"], 4003);
    // Anonymous publish on web_ carries no user id.
    let reply = anon
        .request(
            "publish",
            json!({"channel": "web_room", "event": "say", "data": 2}),
        )
        .await?;
    assert_eq!(reply["result"]["seq"], 2);
    assert!(anon.publication().await?.get("user_id").is_none());
    assert!(alice.publication().await?.get("user_id").is_none());

    // (authenticated?, request, body, expected error code)
    let cases = [
        (
            false,
            "publish",
            json!({"channel": "webauth_x", "event": "e"}),
            4005,
        ),
        (false, "subscribe", json!({"channel": "private_x"}), 4005),
        (
            true,
            "publish",
            json!({"channel": "news", "event": "e"}),
            4005,
        ),
        (
            true,
            "publish",
            json!({"channel": "msg", "event": "e"}),
            4005,
        ),
        (true, "subscribe", json!({"channel": "bad.name"}), 4003),
        (
            true,
            "publish",
            json!({"channel": "web_x", "event": ""}),
            4003,
        ),
    ];
    for (authed, kind, body, want) in cases {
        let n = if authed { &mut alice } else { &mut anon };
        let reply = n.request(kind, body.clone()).await?;
        assert_eq!(reply["error"]["code"], want, "{kind} {body}: {reply}");
    }
    assert_eq!(
        alice
            .request("publish", json!({"channel": "webauth_x", "event": "e"}))
            .await?["result"]["seq"],
        1
    );
    assert!(
        alice
            .request("subscribe", json!({"channel": "private_x"}))
            .await?["result"]
            .is_object()
    );
    // @web_: anyone may send, and the sender stays anonymous.
    alice
        .request("subscribe", json!({"channel": "@web_box"}))
        .await?;
    alice
        .request(
            "publish",
            json!({"channel": "@web_box", "event": "e", "data": 0}),
        )
        .await?;
    let p = alice.publication().await?;
    assert_eq!(p["channel"], "@web_box");
    assert!(p.get("user_id").is_none());
    r.stop().await
}

#[tokio::test]
async fn channel_recovery_in_and_outside_retention() -> Result<()> {
    let r = TestRelay::start().await?;
    let (st, _) = r
        .api(
            "PUT",
            "/channel-settings/web_short",
            Some(json!({"history_len": 2, "history_age_secs": 60})),
        )
        .await?;
    assert_eq!(st, 200);
    let mut n = r.native().await?;
    let sub = n
        .request("subscribe", json!({"channel": "web_long"}))
        .await?;
    let epoch = sub["result"]["epoch"].clone();
    r.api(
        "POST",
        "/channels/web_long/messages",
        Some(json!({"event": "m", "data": 1})),
    )
    .await?;
    assert_eq!(n.publication().await?["seq"], 1);
    drop(n);
    for i in 2..=4 {
        let (st, body) = r
            .api(
                "POST",
                "/channels/web_long/messages",
                Some(json!({"event": "m", "data": i})),
            )
            .await?;
        assert_eq!((st, &body["seq"]), (200, &json!(i)));
    }
    let mut n = r.native().await?;
    let sub = n
        .request(
            "subscribe",
            json!({"channel": "web_long", "since": {"seq": 1, "epoch": epoch}}),
        )
        .await?;
    assert_eq!(sub["result"]["recovered"], true);
    for i in 2..=4 {
        assert_eq!(n.publication().await?["data"], i);
    }
    n.sync().await?;
    assert!(n.drain().is_empty());

    // web_short keeps 2: resuming from before them is a gap, and nothing is replayed.
    let s = n
        .request("subscribe", json!({"channel": "web_short"}))
        .await?;
    let e2 = s["result"]["epoch"].clone();
    for i in 1..=4 {
        r.api(
            "POST",
            "/channels/web_short/messages",
            Some(json!({"event": "m", "data": i})),
        )
        .await?;
    }
    let mut m = r.native().await?;
    let sub = m
        .request(
            "subscribe",
            json!({"channel": "web_short", "since": {"seq": 0, "epoch": e2}}),
        )
        .await?;
    assert_eq!(sub["result"]["recovered"], false);
    m.sync().await?;
    assert!(m.drain().is_empty(), "never a silent partial replay");
    let h = m
        .request("history", json!({"channel": "web_short"}))
        .await?;
    let seqs: Vec<u64> = h["result"]["publications"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["seq"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(seqs, vec![3, 4]);
    r.stop().await
}

#[tokio::test]
async fn history_len_zero_makes_a_prefix_live_only() -> Result<()> {
    let r = TestRelay::start().await?;
    let (st, body) = r
        .api(
            "PUT",
            "/channel-settings/web_live",
            Some(json!({"history_len": 1, "history_age_secs": 0})),
        )
        .await?;
    assert_eq!(
        (st, &body["error"]),
        (400, &json!("ERR_BAD_REQUEST")),
        "{body}"
    );
    let (st, _) = r
        .api(
            "PUT",
            "/channel-settings/web_live",
            Some(json!({"history_len": 0, "history_age_secs": 0})),
        )
        .await?;
    assert_eq!(st, 200);
    let mut n = r.native().await?;
    let sub = n
        .request("subscribe", json!({"channel": "web_live_1"}))
        .await?;
    assert_eq!(
        sub["result"],
        json!({"epoch": "", "seq": 0, "recovered": true})
    );
    for i in 1..=3 {
        let (st, body) = r
            .api(
                "POST",
                "/channels/web_live_1/messages",
                Some(json!({"event": "m", "data": i})),
            )
            .await?;
        assert_eq!((st, body), (200, json!({"seq": null, "delivered": 1})));
    }
    for i in 1..=3 {
        let p = n.publication().await?;
        assert_eq!((&p["data"], p.get("seq")), (&json!(i), None), "{p}");
    }
    // A client's own publish takes the same path, in order with the back end's.
    n.request(
        "publish",
        json!({"channel": "web_live_1", "event": "m", "data": 4}),
    )
    .await?;
    assert_eq!(n.publication().await?["data"], 4);
    let h = n
        .request("history", json!({"channel": "web_live_1"}))
        .await?;
    assert_eq!(h["result"]["publications"], json!([]), "nothing was stored");
    // Other channels keep their history.
    let (_, body) = r
        .api(
            "POST",
            "/channels/web_kept/messages",
            Some(json!({"event": "m", "data": 1})),
        )
        .await?;
    assert_eq!(body["seq"], 1);
    r.stop().await
}

/// CppComet's `track_*` announcements: `subscription`/`unsubscription` with `{user_id, uuid}`
/// for every connection (a user's second tab, an anonymous one), never to the connection itself.
#[tokio::test]
async fn track_channels_announce_subscription_unsubscription_and_members() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut a, _) = r.native_user("a", "device-a-1234").await?;
    let (mut b, _) = r.native_user("b", "device-b-1234").await?;
    a.request("subscribe", json!({"channel": "track_online"}))
        .await?;
    b.request("subscribe", json!({"channel": "track_online"}))
        .await?;
    let sub = a.publication().await?;
    assert_eq!(
        (&sub["channel"], &sub["event"], &sub["data"]),
        (
            &json!("track_online"),
            &json!("subscription"),
            &json!({"user_id": "b", "uuid": "device-b-1234"})
        )
    );
    // b's second tab: announced again, as CppComet does; the member list still has b once.
    let (mut b2, _) = r.native_user("b", "device-b-5678").await?;
    b2.request("subscribe", json!({"channel": "track_online"}))
        .await?;
    assert_eq!(
        a.publication().await?["data"],
        json!({"user_id": "b", "uuid": "device-b-5678"})
    );
    // An anonymous subscriber is announced with user_id 0.
    let mut anon = r.native().await?;
    anon.request("subscribe", json!({"channel": "track_online"}))
        .await?;
    assert_eq!(
        a.publication().await?["data"],
        json!({"user_id": 0, "uuid": ""})
    );
    let p = a
        .request("presence", json!({"channel": "track_online"}))
        .await?;
    assert_eq!(p["result"], json!({"count": 4, "users": ["a", "b"]}));
    let (_, api) = r
        .api("GET", "/channels/track_online/presence", None)
        .await?;
    assert_eq!(api, json!({"count": 4, "users": ["a", "b"]}));
    // Nobody heard about their own subscription: b's first frame is b2's.
    assert_eq!(
        b.publication().await?["data"],
        json!({"user_id": "b", "uuid": "device-b-5678"})
    );
    anon.request("unsubscribe", json!({"channel": "track_online"}))
        .await?;
    let unsub = a.publication().await?;
    assert_eq!(
        (&unsub["event"], &unsub["data"]),
        (&json!("unsubscription"), &json!({"user_id": 0, "uuid": ""}))
    );
    drop(b);
    let unsub = a.publication().await?;
    assert_eq!(
        (&unsub["event"], &unsub["data"]),
        (
            &json!("unsubscription"),
            &json!({"user_id": "b", "uuid": "device-b-1234"})
        )
    );
    r.stop().await
}

#[tokio::test]
async fn user_status_channel_says_online_and_offline() -> Result<()> {
    let r = TestRelay::start().await?;
    let mut watcher = r.native().await?;
    watcher
        .request("subscribe", json!({"channel": "user_status_9"}))
        .await?;
    let (n, _) = r.native_user("9", "device-9-1234").await?;
    assert_eq!(watcher.publication().await?["event"], "online");
    drop(n);
    assert_eq!(watcher.publication().await?["event"], "offline");
    r.stop().await
}

#[tokio::test]
async fn deleting_the_key_disconnects() -> Result<()> {
    let r = TestRelay::start().await?;
    let (mut n, _) = r.native_user("k", "device-k-1234").await?;
    n.sync().await?;
    let (st, body) = r.api("DELETE", "/users/k/key", None).await?;
    assert_eq!((st, &body["closed_connections"]), (200, &json!(1)));
    assert_eq!(n.frame().await?, "close");
    assert_eq!(n.frame().await?, "closed:4502");
    let mut again = r.native().await?;
    let reply = again
        .request("auth", json!({"user_id": "k", "user_key": "key-of-k"}))
        .await?;
    assert_eq!(reply["error"]["code"], 4004);
    r.stop().await
}

#[tokio::test]
async fn limits_and_bad_requests() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.max_subscriptions = 2;
        c.publish_rate = 1;
        c.publish_burst = 2;
    })
    .await?;
    let mut n = r.native().await?;
    n.request("subscribe", json!({"channel": "a1"})).await?;
    n.request("subscribe", json!({"channel": "a2"})).await?;
    let reply = n.request("subscribe", json!({"channel": "a3"})).await?;
    assert_eq!(reply["error"]["code"], 4006);
    let mut codes = Vec::new();
    for _ in 0..3 {
        let reply = n
            .request("publish", json!({"channel": "web_z", "event": "e"}))
            .await?;
        codes.push(reply["error"]["code"].as_u64().unwrap_or(0));
    }
    assert_eq!(codes, vec![0, 0, 4006], "burst of 2, then limited");
    n.send("subscribe:{nope").await?;
    assert!(n.frame().await?.starts_with("error:"));
    n.send(r#"subscribe:{"id":77}"#).await?;
    let f = n.frame().await?;
    assert!(f.starts_with(r#"reply:{"id":77,"error""#), "{f}");
    let reply = n.request("auth", json!({})).await?;
    assert_eq!(reply["error"]["code"], 4007);
    n.send("bogus").await?;
    assert!(n.frame().await?.starts_with("error:{\"code\":4001"));
    r.stop().await
}

#[tokio::test]
async fn user_data_and_last_seen_api() -> Result<()> {
    let r = TestRelay::start().await?;
    let (st, _) = r
        .api("PUT", "/users/5/data", Some(json!({"name": "Eve"})))
        .await?;
    assert_eq!(st, 200);
    let (_, d) = r.api("GET", "/users/5/data", None).await?;
    assert_eq!(d, json!({"name": "Eve"}));
    let mut anon = r.native().await?;
    let reply = anon.request("user_data", json!({"user_id": "5"})).await?;
    assert_eq!(
        reply["result"],
        json!({"user_id": "5", "data": {"name": "Eve"}})
    );
    let reply = anon
        .request("user_data", json!({"user_id": "nobody"}))
        .await?;
    assert_eq!(reply["result"]["data"], Value::Null);
    assert_eq!(
        r.api("PUT", "/users/5/data", Some(json!([1]))).await?.0,
        400
    );
    assert_eq!(r.api("GET", "/users/6/data", None).await?.0, 404);
    let (n, _) = r.native_user("5", "device-5-1234").await?;
    let (_, seen) = r
        .api(
            "POST",
            "/users/last-seen",
            Some(json!({"user_ids": ["5", "6"]})),
        )
        .await?;
    assert!(seen["5"].as_u64().is_some());
    assert_eq!(seen["6"], Value::Null);
    drop(n);
    r.stop().await
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_without_slowing_others() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.outbound_queue = 8;
        c.durability = cometa_relay::config::Durability::Normal;
    })
    .await?;
    let mut slow = r.native().await?;
    let mut fast = r.native().await?;
    for n in [&mut slow, &mut fast] {
        n.request("subscribe", json!({"channel": "feed"})).await?;
    }
    // The slow client stops reading; the fast one reads as messages come. Large messages
    // fill the slow client's socket buffers quickly, then its queue.
    let big = "x".repeat(60_000);
    let total = 300u64;
    let pusher = {
        let http = r.http.clone();
        let url = r.url("/api/v1/channels/feed/messages");
        let big = big.clone();
        tokio::spawn(async move {
            for i in 0..total {
                let res = http
                    .post(&url)
                    .bearer_auth(common::KEY)
                    .json(&json!({"event": "m", "data": {"i": i, "pad": big}}))
                    .send()
                    .await?;
                anyhow::ensure!(res.status().is_success(), "publish {i}: {}", res.status());
            }
            anyhow::Ok(())
        })
    };
    for i in 0..total {
        let p = fast.publication().await?;
        assert_eq!(
            p["data"]["i"], i,
            "the fast client gets everything, in order"
        );
    }
    pusher.await??;
    let mut seen = 0;
    loop {
        let f = slow.frame().await?;
        if let Some(code) = f.strip_prefix("closed:") {
            assert_eq!(code, "4002", "reconnect-class slow-consumer close");
            break;
        }
        seen += 1;
    }
    assert!(
        seen < total,
        "the slow client was cut off before the end ({seen} frames)"
    );
    r.stop().await
}

#[tokio::test]
async fn a_store_that_lost_its_data_changes_the_epoch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let r = TestRelay::start_in(dir.path(), None, |_| {}).await?;
    let mut n = r.native().await?;
    let sub = n.request("subscribe", json!({"channel": "news"})).await?;
    let epoch = sub["result"]["epoch"].clone();
    r.api(
        "POST",
        "/channels/news/messages",
        Some(json!({"event": "m", "data": 1})),
    )
    .await?;
    assert_eq!(n.publication().await?["seq"], 1);
    drop(n);
    let addr = r.addr;
    r.stop().await?;
    // The same relay address with an empty store: what a lost data directory looks like.
    // (Deleting the files under the old store, whose thread may still be closing, raced with
    // SQLite removing its WAL file by name on close.)
    let lost = tempfile::tempdir()?;
    let r = TestRelay::start_in(lost.path(), Some(addr), |_| {}).await?;
    r.api(
        "POST",
        "/channels/news/messages",
        Some(json!({"event": "m", "data": 2})),
    )
    .await?;
    let mut n = r.native().await?;
    let sub = n
        .request(
            "subscribe",
            json!({"channel": "news", "since": {"seq": 1, "epoch": epoch}}),
        )
        .await?;
    assert_eq!(sub["result"]["recovered"], false, "{sub}");
    assert_ne!(sub["result"]["epoch"], epoch);
    r.stop().await
}

#[tokio::test]
async fn concurrent_publishes_reach_subscribers_in_seq_order_without_gaps() -> Result<()> {
    let r = TestRelay::start().await?;
    let mut early = r.native().await?;
    let sub = early
        .request("subscribe", json!({"channel": "busy"}))
        .await?;
    let epoch = sub["result"]["epoch"].clone();
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let (http, url) = (r.http.clone(), r.url("/api/v1/channels/busy/messages"));
            tokio::spawn(async move {
                for i in 0..50 {
                    http.post(&url)
                        .bearer_auth(common::KEY)
                        .json(&json!({"event": "m", "data": [p, i]}))
                        .send()
                        .await?
                        .error_for_status()?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    // A second subscriber joins mid-stream from position 0: replay and live must meet
    // without a gap or a duplicate.
    let mut late = r.native().await?;
    let reply = late
        .request(
            "subscribe",
            json!({"channel": "busy", "since": {"seq": 0, "epoch": epoch}}),
        )
        .await?;
    assert_eq!(reply["result"]["recovered"], true, "{reply}");
    for p in publishers {
        p.await??;
    }
    for n in [&mut early, &mut late] {
        for want in 1..=400u64 {
            assert_eq!(n.publication().await?["seq"], want);
        }
        n.sync().await?;
        assert!(n.drain().is_empty());
    }
    r.stop().await
}

/// The write buffer (`--ws-write-buffer-bytes`) cuts a backlog into socket writes; whatever
/// its size — one byte, or more than the cap the relay derives from the other limits, which
/// tungstenite would refuse with a panic — a backlog arrives whole and in order.
#[tokio::test]
async fn any_write_buffer_size_delivers_a_backlog_in_order() -> Result<()> {
    for size in [1, 1 << 20] {
        let r = TestRelay::start_with(|c| c.ws_write_buffer_bytes = size).await?;
        let mut n = r.native().await?;
        n.request("subscribe", json!({"channel": "wbuf"})).await?;
        let pad = "x".repeat(1000);
        for i in 0..40 {
            let (st, body) = r
                .api(
                    "POST",
                    "/channels/wbuf/messages",
                    Some(json!({"event": "m", "data": [i, pad]})),
                )
                .await?;
            assert_eq!(st, 200, "{body}");
        }
        for want in 1..=40u64 {
            let p = n.publication().await?;
            assert_eq!((&p["seq"], &p["data"][0]), (&json!(want), &json!(want - 1)));
        }
        n.sync().await?;
        assert!(n.drain().is_empty(), "size {size}");
        r.stop().await?;
    }
    Ok(())
}
