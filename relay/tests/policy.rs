//! Who may do what, and for how long: visitors are anonymous for channel rules, connections end
//! with their session, reads write nothing, visitors are swept and their logins limited, demo
//! mode stays a demo.

mod common;

use anyhow::{Context, Result};
use common::login::{login, send, skey};
use common::{Native, TestRelay};
use serde_json::{Value, json};

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
    [
        "stream_epochs",
        "channels",
        "users",
        "sessions",
        "channel_messages",
    ]
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
    let r = TestRelay::start_in(dir.path(), None, |_| {}).await?;
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
async fn demo_logins_never_take_over_users_of_the_back_end() -> Result<()> {
    let r = TestRelay::start_with(|c| c.demo = true).await?;
    let demo = |name: &str| {
        r.http
            .post(r.url("/demo/login"))
            .json(&json!({ "name": name }))
    };
    let (st, user) = r
        .api(
            "POST",
            "/users",
            Some(json!({"user_id": "alice", "username": "alice"})),
        )
        .await?;
    assert_eq!(st, 201, "{user}");
    let (_, keyed) = r.native_user("bob", "device-bob-1234").await?;
    assert!(keyed["error"].is_null());
    r.login_code("carl").await?;
    for taken in ["alice", "bob", "carl", "ALICE"] {
        let (st, _, body) = send(demo(taken)).await?;
        assert_eq!(
            (st, body["error"].as_str()),
            (409, Some("ERR_CONFLICT")),
            "{taken}: {body}"
        );
    }
    // Bob's own key still works.
    let mut n = r.native().await?;
    let reply = n
        .request("auth", json!({"user_id": "bob", "user_key": "key-of-bob"}))
        .await?;
    assert_eq!(reply["result"]["user_id"], "bob", "{reply}");
    // Demo names stay a demo: anyone may take one, again and again.
    for _ in 0..2 {
        let (st, _, body) = send(demo("dora")).await?;
        assert_eq!((st, &body["user_id"]), (200, &json!("dora")), "{body}");
    }
    r.stop().await
}

#[test]
fn demo_mode_refuses_a_public_address_unless_forced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cometa-relay"))
        .args(["--demo", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            anyhow::bail!("the relay started in demo mode on 0.0.0.0");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().context("stderr")?, &mut err)?;
    assert!(!status.success());
    assert!(err.contains("--demo-public"), "{err}");
    Ok(())
}

#[tokio::test]
async fn user_ids_dot_and_dot_dot_are_refused_everywhere() -> Result<()> {
    use cometa_relay::auth::jwt;
    const SECRET: &str = "a-jwt-secret-that-is-long-enough-0123";
    let r = TestRelay::start_with(|c| c.jwt_secret = Some(SECRET.into())).await?;
    let exp = unix_now() + 60;
    for id in [".", ".."] {
        let (st, body) = r
            .api("POST", "/login-codes", Some(json!({ "user_id": id })))
            .await?;
        assert_eq!(st, 400, "login code for {id:?}: {body}");
        let (st, body) = r
            .api(
                "POST",
                "/users",
                Some(json!({ "user_id": id, "username": "x" })),
            )
            .await?;
        assert_eq!(st, 400, "register {id:?}: {body}");
        let token = jwt::sign(SECRET.as_bytes(), &json!({ "sub": id, "exp": exp }));
        let (st, _, body) = send(login(&r).bearer_auth(&token)).await?;
        assert_eq!(st, 401, "JWT for {id:?}: {body}");
        let mut n = r.native().await?;
        let reply = n
            .request("auth", json!({ "user_id": id, "user_key": "k" }))
            .await?;
        assert_eq!(reply["error"]["code"], 4004, "{reply}");
        let reply = n.request("user_data", json!({ "user_id": id })).await?;
        assert_eq!(reply["error"]["code"], 4003, "{reply}");
    }
    r.stop().await
}

#[tokio::test]
async fn jwts_with_absurd_exp_or_the_wrong_audience_or_issuer_are_refused() -> Result<()> {
    use cometa_relay::auth::jwt;
    const SECRET: &str = "a-jwt-secret-that-is-long-enough-0123";
    let r = TestRelay::start_with(|c| {
        c.jwt_secret = Some(SECRET.into());
        c.jwt_max_lifetime = std::time::Duration::from_secs(3600);
        c.jwt_audience = Some("cometa".into());
        c.jwt_issuer = Some("https://site.example".into());
    })
    .await?;
    let now = unix_now();
    let good =
        json!({"sub": "ann", "exp": now + 600, "aud": "cometa", "iss": "https://site.example"});
    let token = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().into_iter().flatten() {
            claims[k] = v.clone();
        }
        jwt::sign(SECRET.as_bytes(), &claims)
    };
    let (st, _, body) = send(login(&r).bearer_auth(token(json!({})))).await?;
    assert_eq!(st, 200, "{body}");
    for bad in [
        json!({"exp": now + 7200}),
        json!({"exp": 99_999_999_999u64}),
        json!({"aud": "someone-else"}),
        json!({"iss": "https://evil.example"}),
    ] {
        let (st, _, body) = send(login(&r).bearer_auth(token(bad.clone()))).await?;
        assert_eq!(st, 401, "{bad}: {body}");
        let mut n = r.native().await?;
        let reply = n
            .request("auth", json!({ "token": token(bad.clone()) }))
            .await?;
        assert_eq!(reply["error"]["code"], 4004, "{bad}: {reply}");
    }
    r.stop().await
}

#[tokio::test]
async fn cors_allows_credentials_only_for_listed_origins() -> Result<()> {
    let cors = |r: &TestRelay, origin: &'static str| {
        r.http
            .request(reqwest::Method::OPTIONS, r.url("/weapp/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
    };
    let header = |h: &reqwest::header::HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let open = TestRelay::start_with(|c| c.anonymous = true).await?;
    let (_, h, _) = send(cors(&open, "https://evil.example")).await?;
    assert_eq!(
        header(&h, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), None);
    open.stop().await?;

    let listed = TestRelay::start_with(|c| {
        c.anonymous = true;
        c.allowed_origins = vec!["https://site.example".into()];
    })
    .await?;
    let (_, h, _) = send(cors(&listed, "https://site.example")).await?;
    assert_eq!(
        header(&h, "access-control-allow-origin").as_deref(),
        Some("https://site.example")
    );
    assert_eq!(
        header(&h, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let (_, h, _) = send(cors(&listed, "https://evil.example")).await?;
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    listed.stop().await
}

#[cfg(unix)]
#[tokio::test]
async fn data_files_are_private() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir()?;
    let dir = parent.path().join("data");
    let r = TestRelay::start_in(&dir, None, |c| {
        c.anonymous = true;
        c.api_key = None;
    })
    .await?;
    visitor_skey(&r).await?;
    r.stop().await?;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    assert_eq!(mode(&dir)?, 0o700, "the data dir");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        assert_eq!(mode(&path)?, 0o600, "{}", path.display());
        seen.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
    }
    for name in ["cometa.sqlite3", "api-key", "visitor-key"] {
        assert!(seen.contains(&Some(name.to_string())), "{name} in {seen:?}");
    }
    Ok(())
}

#[tokio::test]
async fn sdk_serves_only_the_packages_files() -> Result<()> {
    let pkg = tempfile::tempdir()?;
    let write = |path: &str, text: &str| -> Result<()> {
        let p = pkg.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
        Ok(())
    };
    write(
        "package.json",
        r#"{"name":"cometa","files":["index.js","dist/"],"exports":{"./comet":"./comet.js"}}"#,
    )?;
    for f in [
        "index.js",
        "comet.js",
        "dist/cometa_sdk.js",
        "test/secret.test.mjs",
        "package-lock.json",
        "node_modules/x/index.js",
        ".env",
    ] {
        write(f, "x")?;
    }
    let dir = pkg.path().to_path_buf();
    let r = TestRelay::start_with(move |c| c.sdk_dir = Some(dir)).await?;
    let get = |path: &str| r.http.get(r.url(path)).send();
    for ok in [
        "/sdk/index.js",
        "/sdk/comet.js",
        "/sdk/dist/cometa_sdk.js",
        "/sdk/package.json",
    ] {
        assert_eq!(get(ok).await?.status(), 200, "{ok}");
    }
    for hidden in [
        "/sdk/test/secret.test.mjs",
        "/sdk/package-lock.json",
        "/sdk/node_modules/x/index.js",
        "/sdk/.env",
        "/sdk/dist/%2e%2e/test/secret.test.mjs",
        "/sdk/missing.js",
    ] {
        let res = get(hidden).await?;
        assert_eq!(res.status(), 404, "{hidden}");
        let body: Value = res.json().await?;
        assert_eq!(body["error"], "ERR_NOT_FOUND", "{hidden}: {body}");
    }
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
    watcher.sync().await?;
    let frames = watcher.drain();
    assert!(
        (2..=10).contains(&frames.len()),
        "{} frames: {frames:?}",
        frames.len()
    );
    r.stop().await
}
