//! Wafer's HTTP contract and the back-end API over real HTTP.

mod common;

use anyhow::Result;
use common::{KEY, TestRelay};
use serde_json::{Value, json};

#[tokio::test]
async fn login_codes_are_single_use_and_give_a_session() -> Result<()> {
    let r = TestRelay::start().await?;
    let code = r.login_code("alice").await?;
    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", &code).await?;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["code"], 0);
    assert_eq!(body["data"]["userinfo"], json!({"nickName": "alice"}));
    assert!(body["data"]["time"].as_u64().is_some());
    let skey = body["data"]["skey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(skey.len(), 64);

    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", &code).await?;
    assert_eq!(
        (st, &body["code"], &body["error"]),
        (401, &json!(-1), &json!("ERR_LOGIN_FAILED"))
    );
    let (st, body) = r.weapp("/weapp/login", "X-WX-Code", "made-up").await?;
    assert_eq!(
        (st, body["error"].as_str()),
        (401, Some("ERR_LOGIN_FAILED"))
    );
    let res = r.http.post(r.url("/weapp/login")).send().await?;
    assert_eq!(res.status().as_u16(), 401);
    let body: Value = res.json().await?;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("X-WX-Code"))
    );

    let (st, body) = r.weapp("/weapp/user", "X-WX-Skey", &skey).await?;
    assert_eq!((st, &body["data"]["nickName"]), (200, &json!("alice")));
    let (st, body) = r.weapp("/weapp/user", "X-WX-Skey", "stale").await?;
    assert_eq!(
        (st, &body["code"], body["error"].as_str()),
        (401, &json!(-1), Some("ERR_SKEY_INVALID"))
    );
    r.stop().await
}

#[tokio::test]
async fn logout_and_revocation_end_sessions() -> Result<()> {
    let r = TestRelay::start().await?;
    let s1 = r.login("bob").await?;
    let s2 = r.login("bob").await?;
    let res = r
        .http
        .post(r.url("/weapp/logout"))
        .header("X-WX-Skey", &s1)
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &s1).await?.0, 401);
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &s2).await?.0, 200);
    let (st, body) = r.api("DELETE", "/users/bob/sessions", None).await?;
    assert_eq!((st, &body["revoked_sessions"]), (200, &json!(1)));
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &s2).await?.0, 401);
    r.stop().await
}

#[tokio::test]
async fn sessions_and_queued_messages_survive_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let r = TestRelay::start_in(dir.path(), None, |_| {}).await?;
    let skey = r.login("carol").await?;
    assert_eq!(r.push("carol", "n", json!(1)).await?["seq"], 1);
    let addr = r.addr;
    r.stop().await?;

    let r = TestRelay::start_in(dir.path(), Some(addr), |_| {}).await?;
    assert_eq!(r.weapp("/weapp/user", "X-WX-Skey", &skey).await?.0, 200);
    let mut t = r.tunnel(&skey).await?;
    assert_eq!(t.message().await?, ("n".into(), json!(1)));
    r.stop().await
}

#[tokio::test]
async fn api_requires_the_key() -> Result<()> {
    let r = TestRelay::start().await?;
    let url = r.url("/api/v1/login-codes");
    let body = json!({"user_id": "u"});
    for auth in [None, Some("Bearer wrong"), Some("Basic abc"), Some(KEY)] {
        let mut req = r.http.post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let res = req.send().await?;
        assert_eq!(res.status().as_u16(), 401, "{auth:?}");
        let b: Value = res.json().await?;
        assert_eq!(b["error"], "ERR_UNAUTHORIZED");
    }
    r.stop().await
}

#[tokio::test]
async fn bad_input_gets_clear_errors() -> Result<()> {
    let r = TestRelay::start_with(|c| c.max_body_bytes = 1024).await?;
    let cases = [
        ("POST", "/login-codes", json!({"user_id": ""}), 400),
        ("POST", "/login-codes", json!({"user_id": "a/b"}), 400),
        (
            "POST",
            "/login-codes",
            json!({"user_id": "a", "userinfo": [1]}),
            400,
        ),
        (
            "POST",
            "/login-codes",
            json!({"user_id": "a", "ttl_secs": 0}),
            400,
        ),
        (
            "POST",
            "/login-codes",
            json!({"user_id": "a", "ttl_secs": 999_999_999}),
            400,
        ),
        (
            "POST",
            "/login-codes",
            json!({"user_id": "a", "bogus": 1}),
            400,
        ),
        (
            "POST",
            "/users/a/messages",
            json!({"event": "", "data": 1}),
            400,
        ),
        ("POST", "/users/a/messages", json!({"event": "e"}), 400),
        (
            "POST",
            "/users/a/messages",
            json!({"event": "e", "data": "x".repeat(2000)}),
            413,
        ),
        (
            "POST",
            "/tunnels/nope/messages",
            json!({"type": "e", "content": 1}),
            404,
        ),
        ("DELETE", "/tunnels/nope", Value::Null, 404),
        (
            "POST",
            "/broadcast",
            json!({"type": "e", "tunnel_ids": "x"}),
            400,
        ),
        ("GET", "/nowhere", Value::Null, 404),
        ("PUT", "/login-codes", Value::Null, 405),
    ];
    for (method, path, body, want) in cases {
        let body = (!body.is_null()).then_some(body);
        let (st, got) = r.api(method, path, body).await?;
        assert_eq!(st, want, "{method} {path}: {got}");
        assert_eq!(got["code"], json!(want), "{method} {path}: {got}");
        assert!(got["error"].as_str().is_some_and(|e| e.starts_with("ERR_")));
        assert!(got["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let res = r
        .http
        .post(r.url("/api/v1/login-codes"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 400);
    r.stop().await
}

#[tokio::test]
async fn cors_for_weapp_only_and_origin_checks() -> Result<()> {
    let r =
        TestRelay::start_with(|c| c.allowed_origins = vec!["http://app.example".into()]).await?;
    let preflight = |path: &str, origin: &str| {
        r.http
            .request(reqwest::Method::OPTIONS, r.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "x-wx-skey")
            .send()
    };
    let ok = preflight("/weapp/tunnel", "http://app.example").await?;
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"http://app.example"[..])
    );
    let allow = ok
        .headers()
        .get("access-control-allow-headers")
        .map(|v| v.to_str().unwrap_or(""));
    assert!(allow.is_some_and(|h| h.contains("x-wx-skey") && h.contains("x-wx-code")));
    let other = preflight("/weapp/tunnel", "http://evil.example").await?;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let api = preflight("/api/v1/login-codes", "http://app.example").await?;
    assert!(api.headers().get("access-control-allow-origin").is_none());

    // A WebSocket upgrade from a foreign page is refused before the ticket is spent.
    let skey = r.login("dan").await?;
    let (_, body) = r.weapp("/weapp/tunnel", "X-WX-Skey", &skey).await?;
    let url = body["data"]["connectUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )?;
    req.headers_mut()
        .insert("Origin", "http://evil.example".parse()?);
    let err = tokio_tungstenite::connect_async(req).await.err();
    assert!(format!("{err:?}").contains("403"), "{err:?}");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )?;
    req.headers_mut()
        .insert("Origin", "http://app.example".parse()?);
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    r.stop().await
}

#[tokio::test]
async fn generated_api_key_is_kept() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = cometa_relay::Config::for_data_dir(dir.path());
    let first = cometa_relay::Relay::open(cfg.clone())?;
    let key = first.generated_api_key.clone();
    assert!(key.as_ref().is_some_and(|k| k.len() == 64));
    drop(first);
    let again = cometa_relay::Relay::open(cfg)?;
    assert_eq!(again.generated_api_key, None);
    assert_eq!(Some(again.api_key().to_string()), key);
    Ok(())
}

#[tokio::test]
async fn site_named_verification_headers_pass_the_preflight() -> Result<()> {
    let r = TestRelay::start_with(|c| c.auth_verify_headers = vec!["X-Site-Token".into()]).await?;
    let res = r
        .http
        .request(reqwest::Method::OPTIONS, r.url("/weapp/login"))
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-site-token")
        .send()
        .await?;
    let allow = res
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(allow.contains("x-site-token"), "{allow}");
    r.stop().await
}
