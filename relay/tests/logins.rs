//! Every way to log in, over real HTTP: the users API, passwords with their rate limits,
//! remember-me and refresh, JWTs, anonymous visitors and their merge, delegated auth — each
//! path good and bad — and that no user reaches another user's personal stream.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::login::{assert_login_failed, basic, login, register, send, skey};
use common::{Seen, TestRelay};
use serde_json::{Value, json};

const JWT_SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

#[tokio::test]
async fn users_api_registers_edits_and_deletes() -> Result<()> {
    let r = TestRelay::start().await?;
    let res = r
        .http
        .post(r.url("/api/v1/users"))
        .bearer_auth("wrong-key-0123456789")
        .json(&json!({"username": "ann"}))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 401, "wrong API key");

    let ann = register(
        &r,
        json!({"user_id": "ann", "username": "Ann", "email": "ann@example.com",
               "avatar_url": "https://example.com/a.png", "password": "s3cret-pass",
               "userinfo": {"level": 3}}),
    )
    .await?;
    assert!(!ann.to_string().contains("s3cret") && !ann.to_string().contains("argon2"));
    assert_eq!(ann["has_password"], true);
    assert_eq!(
        ann["userinfo"],
        json!({"level": 3, "username": "Ann", "email": "ann@example.com",
               "avatar_url": "https://example.com/a.png"})
    );
    let (st, _) = r
        .api(
            "POST",
            "/users",
            Some(json!({"user_id": "ann", "username": "x"})),
        )
        .await?;
    assert_eq!(st, 409, "user_id exists");
    let (st, _) = r
        .api("POST", "/users", Some(json!({"username": "ANN"})))
        .await?;
    assert_eq!(st, 409, "usernames are unique whatever their case");
    let generated = register(&r, json!({"username": "gen"})).await?;
    assert!(
        generated["user_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("u_"))
    );
    let (st, _) = r
        .api(
            "POST",
            "/users",
            Some(json!({"username": "p", "password": "short"})),
        )
        .await?;
    assert_eq!(st, 400);

    let (st, p) = r
        .api(
            "PATCH",
            "/users/ann",
            Some(json!({"email": "new@example.com"})),
        )
        .await?;
    assert_eq!(
        (st, &p["email"], &p["username"]),
        (200, &json!("new@example.com"), &json!("Ann"))
    );
    assert_eq!(p["userinfo"]["level"], 3, "fields not given stay");
    let (st, _) = r
        .api("PATCH", "/users/nobody", Some(json!({"email": "a@b"})))
        .await?;
    assert_eq!(st, 404);
    let (st, _, _) = send(login(&r).header("Authorization", basic("ann", "s3cret-pass"))).await?;
    assert_eq!(
        st, 200,
        "password login works before the password is removed"
    );
    let (_, p) = r
        .api("PATCH", "/users/ann", Some(json!({"password": null})))
        .await?;
    assert_eq!(p["has_password"], false);
    let (st, _, body) =
        send(login(&r).header("Authorization", basic("ann", "s3cret-pass"))).await?;
    assert_login_failed(st, &body);

    let (st, p) = r.api("GET", "/users/ann", None).await?;
    assert_eq!((st, &p["username"]), (200, &json!("Ann")));
    let (st, d) = r.api("DELETE", "/users/ann", None).await?;
    assert_eq!((st, &d["deleted"]), (200, &json!(1)));
    assert_eq!(r.api("GET", "/users/ann", None).await?.0, 404);
    assert_eq!(r.api("DELETE", "/users/ann", None).await?.0, 404);

    register(&r, json!({"user_id": "b1", "username": "b1"})).await?;
    register(&r, json!({"user_id": "b2", "username": "b2"})).await?;
    let (st, d) = r
        .api(
            "POST",
            "/users/delete",
            Some(json!({"user_ids": ["b1", "b2", "b3"]})),
        )
        .await?;
    assert_eq!(
        (st, &d["deleted"], &d["not_found"]),
        (200, &json!(2), &json!(["b3"]))
    );
    r.stop().await
}

#[tokio::test]
async fn deleting_a_user_ends_its_sessions_tunnels_and_codes() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("dora").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    let pending = r.login_code("dora").await?;
    let (st, d) = r.api("DELETE", "/users/dora", None).await?;
    assert_eq!(
        (st, &d["revoked_sessions"], &d["closed_tunnels"]),
        (200, &json!(1), &json!(1))
    );
    // Wafer clients get a `close` packet first, then the close frame.
    let mut seen = t.next().await?;
    while matches!(seen, Seen::Text(_)) {
        seen = t.next().await?;
    }
    assert_eq!(seen, Seen::Closed(Some(4502)));
    let (st, body) = r.weapp("/weapp/user", "X-WX-Skey", &skey).await?;
    assert_eq!((st, &body["code"]), (401, &json!(-1)));
    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", &pending).await?;
    assert_login_failed(st, &body);
    r.stop().await
}

#[tokio::test]
async fn login_codes_take_profile_fields_and_stay_single_use() -> Result<()> {
    let r = TestRelay::start().await?;
    let (st, c) = r
        .api(
            "POST",
            "/login-codes",
            Some(
                json!({"user_id": "eve", "username": "eve", "email": "eve@example.com",
                        "avatar_url": "https://example.com/e.png", "userinfo": {"n": 1}}),
            ),
        )
        .await?;
    assert_eq!(st, 201, "{c}");
    let code = c["code"].as_str().context("code")?;
    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", code).await?;
    assert_eq!(st, 200);
    assert_eq!(
        body["data"]["userinfo"],
        json!({"n": 1, "username": "eve", "email": "eve@example.com",
               "avatar_url": "https://example.com/e.png"})
    );
    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", code).await?;
    assert_login_failed(st, &body);
    let (st, _) = r
        .api(
            "POST",
            "/login-codes",
            Some(json!({"user_id": "eve2", "username": "EVE"})),
        )
        .await?;
    assert_eq!(st, 409, "another user's username");
    r.stop().await
}

#[tokio::test]
async fn password_logins_and_their_rate_limits() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.login_failures_per_account = 3;
        c.login_failures_per_address = 6;
    })
    .await?;
    register(
        &r,
        json!({"user_id": "fay", "username": "fay", "password": "fay-password"}),
    )
    .await?;
    let (st, _, body) =
        send(login(&r).header("Authorization", basic("fay", "fay-password"))).await?;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"]["userinfo"]["username"], "fay");
    let (st, _, body) =
        send(login(&r).json(&json!({"username": "fay", "password": "fay-password"}))).await?;
    assert_eq!(st, 200, "JSON body login: {body}");

    let (st, _, wrong) = send(login(&r).header("Authorization", basic("fay", "nope-nope"))).await?;
    assert_login_failed(st, &wrong);
    let (st, _, unknown) =
        send(login(&r).header("Authorization", basic("ghost", "nope-nope"))).await?;
    assert_login_failed(st, &unknown);
    assert_eq!(
        wrong["message"], unknown["message"],
        "no hint whether the user exists"
    );
    for _ in 0..2 {
        send(login(&r).header("Authorization", basic("fay", "nope-nope"))).await?;
    }
    // Third failure on the account: from now on even the right password waits.
    let (st, headers, body) =
        send(login(&r).header("Authorization", basic("fay", "fay-password"))).await?;
    assert_eq!(
        (st, body["error"].as_str(), &body["code"]),
        (429, Some("ERR_TOO_MANY_ATTEMPTS"), &json!(429))
    );
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("Retry-After")?;
    assert!((1..=900).contains(&retry), "{retry}");

    // Per address: two more failures on other accounts reach the address limit of 6.
    for u in ["x1", "x2"] {
        let (st, _, _) = send(login(&r).header("Authorization", basic(u, "whatever1"))).await?;
        assert_eq!(st, 401);
    }
    let (st, _, _) = send(login(&r).header("Authorization", basic("x3", "whatever1"))).await?;
    assert_eq!(st, 429, "address limit");
    r.stop().await
}

#[tokio::test]
async fn remember_me_refresh_and_expiry() -> Result<()> {
    let r = TestRelay::start_with(|c| c.session_ttl_short = Duration::from_secs(2)).await?;
    let now = |b: &Value| b["data"]["time"].as_u64().unwrap_or_default();
    let code = r.login_code("gil").await?;
    let (st, _, long) = send(login(&r).header("X-WX-Code", &code)).await?;
    assert_eq!(st, 200);
    assert_eq!(long["data"]["remember"], true);
    assert_eq!(
        long["data"]["expires_at"].as_u64(),
        Some(now(&long) + 30 * 86_400)
    );

    let code = r.login_code("gil").await?;
    let (_, _, short) = send(
        login(&r)
            .header("X-WX-Code", &code)
            .header("X-WX-Remember", "0"),
    )
    .await?;
    assert_eq!(short["data"]["remember"], false);
    assert_eq!(short["data"]["expires_at"].as_u64(), Some(now(&short) + 2));
    let code = r.login_code("gil").await?;
    let (_, _, q) = send(
        r.http
            .get(r.url("/weapp/login?remember=0"))
            .header("X-WX-Code", &code),
    )
    .await?;
    assert_eq!(q["data"]["remember"], false, "query parameter");

    // Refresh: a new key for the same session; the old one stops at once; the tunnel stays.
    let old = skey(&short)?;
    let mut t = r.tunnel(&old).await?;
    t.sync().await?;
    let (st, _, fresh) = send(
        r.http
            .post(r.url("/weapp/refresh"))
            .header("X-WX-Skey", &old),
    )
    .await?;
    assert_eq!(st, 200, "{fresh}");
    assert_eq!(fresh["data"]["remember"], false, "keeps the session's kind");
    assert_eq!(fresh["data"]["userinfo"]["nickName"], "gil");
    let new = skey(&fresh)?;
    assert_ne!(new, old);
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &old).await?.0, 401);
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &new).await?.0, 200);
    r.push("gil", "after-refresh", json!(1)).await?;
    assert_eq!(t.message().await?, ("after-refresh".into(), json!(1)));
    let (st, _, body) = send(
        r.http
            .post(r.url("/weapp/refresh"))
            .header("X-WX-Skey", &old),
    )
    .await?;
    assert_eq!(
        (st, &body["code"]),
        (401, &json!(-1)),
        "a used key cannot refresh"
    );

    // Short sessions expire; an expired key can neither be used nor refreshed.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &new).await?.0, 401);
    let (st, _, body) = send(
        r.http
            .post(r.url("/weapp/refresh"))
            .header("X-WX-Skey", &new),
    )
    .await?;
    assert_eq!((st, &body["code"]), (401, &json!(-1)));
    // Logout revokes.
    let s = r.login("gil").await?;
    send(r.http.post(r.url("/weapp/logout")).header("X-WX-Skey", &s)).await?;
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &s).await?.0, 401);
    r.stop().await
}

#[tokio::test]
async fn jwt_logins() -> Result<()> {
    use cometa_relay::auth::jwt;
    let r = TestRelay::start_with(|c| c.jwt_secret = Some(JWT_SECRET.into())).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let good = jwt::sign(
        JWT_SECRET.as_bytes(),
        &json!({"sub": "hal", "exp": now + 60}),
    );
    let (st, _, body) = send(login(&r).bearer_auth(&good)).await?;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["data"]["expires_at"].as_u64(),
        Some(now + 60),
        "capped by exp"
    );
    let s = skey(&body)?;
    let (_, _, fresh) = send(r.http.post(r.url("/weapp/refresh")).header("X-WX-Skey", &s)).await?;
    assert_eq!(
        fresh["data"]["expires_at"].as_u64(),
        Some(now + 60),
        "refresh cannot pass exp"
    );

    let expired = jwt::sign(
        JWT_SECRET.as_bytes(),
        &json!({"sub": "hal", "exp": now - 1}),
    );
    let other_key = jwt::sign(
        b"another-secret-another-secret-xx",
        &json!({"sub": "hal", "exp": now + 60}),
    );
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none_alg = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&json!({"sub": "hal", "exp": now + 60}).to_string())
    );
    let hs512 = good.replacen(
        &b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        &b64(r#"{"alg":"HS512","typ":"JWT"}"#),
        1,
    );
    for bad in [expired, other_key, none_alg, hs512, "garbage".to_string()] {
        let (st, _, body) = send(login(&r).bearer_auth(&bad)).await?;
        assert_login_failed(st, &body);
    }
    r.stop().await?;

    let off = TestRelay::start().await?;
    let (st, _, body) = send(login(&off).bearer_auth(&good)).await?;
    assert_login_failed(st, &body);
    off.stop().await
}

#[tokio::test]
async fn no_user_reaches_another_users_personal_stream() -> Result<()> {
    let r = TestRelay::start().await?;
    let (ka, kb) = (r.login("alice").await?, r.login("bob").await?);
    let (mut ta, mut tb) = (r.tunnel(&ka).await?, r.tunnel(&kb).await?);
    r.push("alice", "secret", json!("for alice")).await?;
    r.push("bob", "note", json!("for bob")).await?;
    assert_eq!(ta.message().await?, ("secret".into(), json!("for alice")));
    assert_eq!(tb.message().await?, ("note".into(), json!("for bob")));
    // What a tunnel sends goes to the back end (webhook), never to another user's tunnel.
    tb.send(r#"message:{"type":"secret","content":"from bob"}"#)
        .await?;
    ta.sync().await?;
    tb.sync().await?;
    // A session only ever shows its own user; tickets are bound to the session.
    let (_, me) = r.weapp("/weapp/user", "X-WX-Skey", &kb).await?;
    assert_eq!(me["data"]["nickName"], "bob");
    let (_, tun) = r.weapp("/weapp/tunnel", "X-WX-Skey", &kb).await?;
    let url = tun["data"]["connectUrl"].as_str().context("url")?;
    let (mut bob2, _) = tokio_tungstenite::connect_async(url).await?;
    r.push("alice", "secret", json!("again")).await?;
    assert_eq!(ta.message().await?, ("secret".into(), json!("again")));
    // Bob's new tunnel replays bob's stream only, then answers the ping: nothing of alice's.
    use common::{SinkExt, StreamExt};
    bob2.send(tokio_tungstenite::tungstenite::Message::text("ping"))
        .await?;
    loop {
        let msg = tokio::time::timeout(common::WAIT, bob2.next())
            .await?
            .context("closed")??;
        let text = msg.to_text()?.to_string();
        assert!(!text.contains("alice"), "{text}");
        if text == "pong" {
            break;
        }
    }
    tb.sync().await?;
    // The client-facing routes take no user id: another user's key is the only way in.
    let (st, _) = r.weapp("/weapp/user", "X-WX-Skey", "alice").await?;
    assert_eq!(st, 401);
    // The back-end API needs the API key for anything about a user.
    let res = r
        .http
        .get(r.url("/api/v1/users/alice"))
        .bearer_auth(kb.as_str())
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 401);
    let res = r
        .http
        .post(r.url("/api/v1/users/alice/messages"))
        .bearer_auth(kb.as_str())
        .json(&json!({"event": "x", "data": 1}))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 401);
    r.stop().await
}

#[tokio::test]
async fn the_address_limit_follows_x_forwarded_for_only_when_trusted() -> Result<()> {
    for trusted in [true, false] {
        let r = TestRelay::start_with(|c| {
            c.login_failures_per_address = 1;
            c.trust_forwarded_for = trusted;
        })
        .await?;
        let from = |ip: &str, user: &str| {
            login(&r)
                .header("X-Forwarded-For", format!("6.6.6.6, {ip}"))
                .header("Authorization", basic(user, "wrong-password"))
        };
        assert_eq!(send(from("1.1.1.1", "a")).await?.0, 401);
        assert_eq!(send(from("1.1.1.1", "b")).await?.0, 429);
        let other = send(from("2.2.2.2", "c")).await?.0;
        assert_eq!(other, if trusted { 401 } else { 429 }, "trusted: {trusted}");
        r.stop().await?;
    }
    Ok(())
}
