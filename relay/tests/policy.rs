//! Who may do what, and for how long: visitors are anonymous for channel rules, connections end
//! with their session, reads write nothing, visitors are swept and their logins limited, and
//! `track_*` subscriptions cannot flood the members.

mod common;

use anyhow::Result;
use common::login::{login, send, skey};
use common::{Native, TestRelay};
use serde_json::{Value, json};

/// A visitor's login (no credentials at all): its skey.
async fn visitor_skey(r: &TestRelay) -> Result<String> {
    let (st, _, body) = send(login(r)).await?;
    anyhow::ensure!(st == 200, "visitor login: {st} {body}");
    skey(&body)
}

/// A native connection authenticated with `skey`, and the auth reply.
async fn native_skey(r: &TestRelay, skey: &str) -> Result<(Native, Value)> {
    let mut n = r.native().await?;
    let reply = n.request("auth", json!({ "skey": skey })).await?;
    Ok((n, reply))
}

#[tokio::test]
async fn a_visitor_is_anonymous_for_every_channel_rule() -> Result<()> {
    let r = TestRelay::start_with(|c| c.anonymous = true).await?;
    let skey = visitor_skey(&r).await?;
    let (mut v, reply) = native_skey(&r, &skey).await?;
    assert!(reply["error"].is_null(), "the skey is valid: {reply}");
    assert!(reply["result"]["user_id"].is_null(), "anonymous: {reply}");
    for (kind, body) in [
        ("subscribe", json!({"channel": "private_alice"})),
        ("history", json!({"channel": "private_alice"})),
        ("subscribe", json!({"channel": "msg"})),
        ("history", json!({"channel": "msg"})),
        (
            "publish",
            json!({"channel": "webauth_room", "event": "m", "data": 1}),
        ),
    ] {
        let reply = v.request(kind, body.clone()).await?;
        assert_eq!(reply["error"]["code"], 4005, "{kind} {body}: {reply}");
    }
    // The exact attack: the back end's message on private_alice never reaches the visitor.
    let (st, _) = r
        .api(
            "POST",
            "/channels/private_alice/messages",
            Some(json!({"event": "secret", "data": {"pin": 1234}})),
        )
        .await?;
    assert_eq!(st, 200);
    v.sync().await?;
    assert!(v.drain().is_empty());
    // A user the back end knows still may.
    let (mut alice, _) = native_skey(&r, &r.login("alice").await?).await?;
    let reply = alice
        .request("history", json!({"channel": "private_alice"}))
        .await?;
    assert_eq!(reply["result"]["publications"][0]["event"], "secret");
    r.stop().await
}

/// Logs in a known user and opens a native connection with the session key.
async fn user_connection(r: &TestRelay, user: &str) -> Result<(String, Native)> {
    let skey = r.login(user).await?;
    let (mut n, reply) = native_skey(r, &skey).await?;
    assert_eq!(reply["result"]["user_id"], user, "{reply}");
    n.sync().await?;
    Ok((skey, n))
}

#[tokio::test]
async fn logout_closes_the_sessions_native_connections() -> Result<()> {
    let r = TestRelay::start_with(|c| c.anonymous = true).await?;
    let (skey, mut n) = user_connection(&r, "lou").await?;
    let (_, mut other) = user_connection(&r, "lou").await?;
    let visitor = visitor_skey(&r).await?;
    let (mut v, _) = native_skey(&r, &visitor).await?;
    for (key, conn) in [(&skey, &mut n), (&visitor, &mut v)] {
        let (st, _) = r.weapp("/weapp/logout", "X-WX-Skey", key).await?;
        assert_eq!(st, 200);
        assert_eq!(conn.frame().await?, "close");
        assert_eq!(conn.frame().await?, "closed:4502");
    }
    // The push after logout reaches the user's other session only.
    r.push("lou", "after", json!(1)).await?;
    assert_eq!(other.publication().await?["event"], "after");
    r.stop().await
}

#[tokio::test]
async fn connections_end_when_their_session_expires_and_refresh_extends_it() -> Result<()> {
    use std::time::{Duration, Instant};
    let ttl = Duration::from_secs(3);
    let r = TestRelay::start_with(|c| {
        c.session_ttl = ttl;
        c.session_ttl_short = ttl;
    })
    .await?;
    // Sessions expire on whole seconds: the first one ends by `login + ttl` at the latest.
    let login_at = Instant::now();
    let (skey, mut n) = user_connection(&r, "exp").await?;
    let mut tunnel = r.tunnel(&skey).await?;
    let (skey2, mut unrefreshed) = user_connection(&r, "exp").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A refresh keeps the session (same id): its connections live on to the new expiry,
    // which is at least `refresh + ttl - 1 s`.
    let (st, _, body) = send(
        r.http
            .post(r.url("/weapp/refresh"))
            .header("X-WX-Skey", &skey),
    )
    .await?;
    assert_eq!(st, 200, "{body}");
    let fresh = common::login::skey(&body)?;
    tokio::time::sleep(
        (login_at + ttl + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    n.sync().await?;
    tunnel.sync().await?;
    // The session that was not refreshed has ended, and its connection with it.
    assert_eq!(unrefreshed.frame().await?, "close");
    assert_eq!(unrefreshed.frame().await?, "closed:4502");
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &skey2).await?.0, 401);
    // Then the refreshed one ends too, with both its connections.
    assert_eq!(n.frame().await?, "close");
    assert_eq!(n.frame().await?, "closed:4502");
    assert_eq!(tunnel.next().await?, common::Seen::Text("close".into()));
    assert_eq!(tunnel.next().await?, common::Seen::Closed(Some(4502)));
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &fresh).await?.0, 401);
    r.stop().await
}

/// Rows of each table that reads must not grow.
fn rows(dir: &std::path::Path) -> Result<Vec<(&'static str, i64)>> {
    let c = rusqlite::Connection::open_with_flags(
        dir.join("cometa.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    ["streams", "users", "sessions", "stream_messages"]
        .into_iter()
        .map(|t| {
            let n: i64 = c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
            Ok((t, n))
        })
        .collect()
}

#[tokio::test]
async fn reads_of_new_names_store_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // 900 requests in a moment: lift the per-connection frame rate limit (tested elsewhere).
    let r = TestRelay::start_in(dir.path(), None, |c| {
        c.frame_rate = 1_000_000;
        c.frame_burst = 1_000_000;
    })
    .await?;
    let mut n = r.native().await?;
    n.request("subscribe", json!({"channel": "web_warmup"}))
        .await?;
    let before = rows(dir.path())?;
    for i in 0..300 {
        let channel = format!("web_new_{i}");
        let s = n
            .request("subscribe", json!({ "channel": channel }))
            .await?;
        assert!(s["error"].is_null(), "{s}");
        let h = n.request("history", json!({ "channel": channel })).await?;
        assert_eq!(
            h["result"]["epoch"], s["result"]["epoch"],
            "one stable epoch"
        );
        n.request("unsubscribe", json!({ "channel": channel }))
            .await?;
    }
    assert_eq!(rows(dir.path())?, before);
    // A channel read before its first message keeps the epoch it was shown: a subscriber can
    // resume from that position.
    let shown = n
        .request("subscribe", json!({"channel": "web_later"}))
        .await?;
    let (st, _) = r
        .api(
            "POST",
            "/channels/web_later/messages",
            Some(json!({"event": "m", "data": 1})),
        )
        .await?;
    assert_eq!(st, 200);
    let mut late = r.native().await?;
    let again = late
        .request(
            "subscribe",
            json!({"channel": "web_later", "since": {"seq": 0, "epoch": shown["result"]["epoch"]}}),
        )
        .await?;
    assert_eq!(again["result"]["recovered"], true, "{again}");
    assert_eq!(late.publication().await?["seq"], 1);
    r.stop().await
}

#[tokio::test]
async fn idle_visitors_are_swept_but_not_connected_ones() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let r = TestRelay::start_in(dir.path(), None, |c| {
        c.anonymous = true;
        c.visitor_idle_max_age = std::time::Duration::from_secs(1);
        c.sweep_interval = std::time::Duration::from_secs(1);
    })
    .await?;
    let idle = visitor_skey(&r).await?;
    let connected = visitor_skey(&r).await?;
    let (mut n, _) = native_skey(&r, &connected).await?;
    n.sync().await?;
    let known = r.login("kim").await?;
    let visitors = |dir: &std::path::Path| -> Result<(i64, i64)> {
        let c = rusqlite::Connection::open_with_flags(
            dir.join("cometa.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
        Ok((
            count("SELECT count(*) FROM users WHERE user_id LIKE 'visitor:%'")?,
            count("SELECT count(*) FROM sessions WHERE user_id LIKE 'visitor:%'")?,
        ))
    };
    assert_eq!(visitors(dir.path())?, (2, 2));
    let deadline = std::time::Instant::now() + common::WAIT;
    while visitors(dir.path())? != (1, 1) {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no sweep");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &idle).await?.0, 401);
    assert_eq!(
        r.weapp("/weapp/user", "X-WX-Skey", &connected).await?.0,
        200
    );
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &known).await?.0, 200);
    r.stop().await
}

#[tokio::test]
async fn anonymous_logins_are_limited_per_address() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.anonymous = true;
        c.anonymous_logins_per_address = 3;
    })
    .await?;
    for _ in 0..3 {
        visitor_skey(&r).await?;
    }
    let (st, headers, body) = send(login(&r)).await?;
    assert_eq!((st, body["code"].as_u64()), (429, Some(429)), "{body}");
    assert_eq!(body["error"], "ERR_TOO_MANY_ATTEMPTS");
    let wait: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Logins with credentials are not anonymous ones.
    r.login("known").await?;
    r.stop().await
}

#[tokio::test]
async fn a_track_subscribe_loop_cannot_flood_the_members() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.track_subscribes_per_sec = 1;
        c.track_subscribes_burst = 3;
    })
    .await?;
    let (mut watcher, _) = r.native_user("watcher", "device-watcher-1").await?;
    watcher
        .request("subscribe", json!({"channel": "track_room"}))
        .await?;
    let (mut looper, _) = r.native_user("looper", "device-looper-1").await?;
    let mut refused = 0;
    for _ in 0..20 {
        let s = looper
            .request("subscribe", json!({"channel": "track_room"}))
            .await?;
        if s["error"]["code"] == 4006 {
            refused += 1;
        }
        looper
            .request("unsubscribe", json!({"channel": "track_room"}))
            .await?;
    }
    assert!(refused >= 15, "refused {refused} of 20");
    // Anonymous subscribers are announced too (user_id 0), so they are limited as well.
    let mut anon = r.native().await?;
    let mut refused = 0;
    for _ in 0..20 {
        let s = anon
            .request("subscribe", json!({"channel": "track_room"}))
            .await?;
        if s["error"]["code"] == 4006 {
            refused += 1;
        }
        anon.request("unsubscribe", json!({"channel": "track_room"}))
            .await?;
    }
    assert!(refused >= 15, "anonymous: refused {refused} of 20");
    watcher.sync().await?;
    let frames = watcher.drain();
    assert!(
        (2..=20).contains(&frames.len()),
        "{} frames: {frames:?}",
        frames.len()
    );
    r.stop().await
}
