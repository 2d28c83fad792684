//! Anonymous visitors (signed cookie, CORS with credentials, merge into a user) and delegated
//! auth (the site's verification URL admits; every failure of it refuses), over real HTTP.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::http::{HeaderMap, StatusCode};
use common::login::{assert_login_failed, login, send, skey, visitor_cookie};
use common::{KEY, TestRelay};
use serde_json::{Value, json};

#[tokio::test]
async fn anonymous_visitors_keep_their_stream_in_a_signed_cookie() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.anonymous = true;
        c.visitor_cookie_max_age = Duration::from_secs(3600);
        // Credentials are allowed for listed origins only.
        c.allowed_origins = vec!["https://shop.example".into()];
    })
    .await?;
    let (st, headers, body) = send(login(&r).header("Origin", "https://shop.example")).await?;
    assert_eq!(st, 200, "{body}");
    let set = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for part in [
        "cometa_visitor=",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=3600",
        "Path=/",
    ] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http");
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    assert_eq!(
        headers
            .get("access-control-allow-credentials")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let visitor = body["data"]["userinfo"]["user_id"]
        .as_str()
        .context("visitor id")?
        .to_string();
    assert!(visitor.starts_with("visitor:"));
    let cookie = visitor_cookie(&headers)?;
    r.push(&visitor, "welcome", json!("hi")).await?;

    // Next visit: same visitor, and the stream waits for it.
    let (st, h2, again) = send(login(&r).header("Cookie", &cookie)).await?;
    assert_eq!(st, 200);
    assert_eq!(again["data"]["userinfo"]["user_id"], visitor.as_str());
    assert!(
        visitor_cookie(&h2)?.starts_with("cometa_visitor="),
        "re-issued"
    );
    let mut t = r.tunnel(&skey(&again)?).await?;
    assert_eq!(t.message().await?, ("welcome".into(), json!("hi")));

    // A tampered cookie is ignored: a new visitor.
    let tampered = format!("{}0", cookie);
    let (st, _, other) = send(login(&r).header("Cookie", &tampered)).await?;
    assert_eq!(st, 200);
    assert_ne!(other["data"]["userinfo"]["user_id"], visitor.as_str());
    let (_, _, https) = send(login(&r).header("X-Forwarded-Proto", "https")).await?;
    assert_eq!(https["code"], 0);
    let (_, h, _) = send(login(&r).header("X-Forwarded-Proto", "https")).await?;
    assert!(
        h.get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("Secure"))
    );
    r.stop().await?;

    let closed = TestRelay::start().await?;
    let (st, _, body) = send(login(&closed)).await?;
    assert_login_failed(st, &body);
    closed.stop().await
}

#[tokio::test]
async fn a_visitor_merges_into_a_user() -> Result<()> {
    let r = TestRelay::start_with(|c| c.anonymous = true).await?;
    let (_, headers, body) = send(login(&r)).await?;
    let visitor = body["data"]["userinfo"]["user_id"]
        .as_str()
        .context("id")?
        .to_string();
    let cookie = visitor_cookie(&headers)?;
    r.push(&visitor, "v", json!(1)).await?;
    r.push(&visitor, "v", json!(2)).await?;
    let skey = r.login("ivy").await?;
    r.push("ivy", "u", json!(1)).await?;
    let mut t = r.tunnel(&skey).await?;
    assert_eq!(t.message().await?, ("u".into(), json!(1)));

    let (st, m) = r
        .api(
            "POST",
            "/users/ivy/merge",
            Some(json!({"visitor_id": visitor})),
        )
        .await?;
    assert_eq!(
        (st, &m["merged_messages"], &m["last_seq"]),
        (200, &json!(2), &json!(3))
    );
    assert_eq!(
        t.message().await?,
        ("v".into(), json!(1)),
        "delivered live, after the user's"
    );
    assert_eq!(t.message().await?, ("v".into(), json!(2)));
    assert_eq!(r.push("ivy", "u", json!(2)).await?["seq"], 4);
    assert_eq!(
        r.api("GET", &format!("/users/{visitor}"), None).await?.0,
        404
    );
    let (st, _) = r
        .api(
            "POST",
            "/users/ivy/merge",
            Some(json!({"visitor_id": visitor})),
        )
        .await?;
    assert_eq!(st, 404, "already merged");
    let (st, _) = r
        .api(
            "POST",
            "/users/ivy/merge",
            Some(json!({"visitor_id": "ivy"})),
        )
        .await?;
    assert_eq!(st, 400, "not a visitor id");
    // The merged visitor's cookie no longer brings it back.
    let (_, _, body) = send(login(&r).header("Cookie", &cookie)).await?;
    assert_ne!(body["data"]["userinfo"]["user_id"], visitor.as_str());
    r.stop().await
}

/// What the verification server received: body, and whether it was validly signed.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in for the site's verification URL: `/ok` admits `wx_user`, `/refuse` answers 403,
/// `/slow` answers after 2 s, `/garbage` is not JSON, `/bad-id` names an invalid user.
async fn verifier() -> Result<(SocketAddr, Seen)> {
    use axum::routing::post;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let ok = move |headers: HeaderMap, body: String| {
        let record = record.clone();
        async move {
            let valid = common::signed::signed(&headers, body.as_bytes(), KEY);
            let sig = if valid { "valid" } else { "INVALID" }.to_string();
            record
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((body, sig));
            axum::Json(json!({"user_id": "wx_user", "userinfo": {"nickName": "Wei"}}))
        }
    };
    let app = axum::Router::new()
        .route("/ok", post(ok))
        .route("/refuse", post(|| async { StatusCode::FORBIDDEN }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::Json(json!({"user_id": "slow_user"}))
            }),
        )
        .route("/garbage", post(|| async { "not json" }))
        .route(
            "/bad-id",
            post(|| async { axum::Json(json!({"user_id": "a/b"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, seen))
}

async fn relay_verifying(url: &str, headers: Option<Vec<String>>) -> Result<TestRelay> {
    let url = reqwest::Url::parse(url)?;
    TestRelay::start_with(move |c| {
        c.auth_verify_url = Some(url);
        c.auth_verify_timeout = Duration::from_millis(300);
        if let Some(h) = headers {
            c.auth_verify_headers = h;
        }
    })
    .await
}

#[tokio::test]
async fn delegated_auth_admits_what_the_site_accepts() -> Result<()> {
    let (addr, seen) = verifier().await?;
    let r = relay_verifying(&format!("http://{addr}/ok"), None).await?;
    let req = login(&r)
        .header("X-WX-Code", "wx-code-1")
        .header("X-WX-IV", "iv-1")
        .header("X-Other", "not forwarded");
    let (st, _, body) = send(req).await?;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"]["userinfo"]["nickName"], "Wei");
    let s = skey(&body)?;
    let (_, me) = r.weapp("/weapp/user", "X-WX-Skey", &s).await?;
    assert_eq!(me["data"]["nickName"], "Wei");
    assert_eq!(
        r.api("GET", "/users/wx_user", None).await?.1["userinfo"]["nickName"],
        "Wei"
    );
    {
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let (body, sig) = seen.first().context("the verifier was called")?;
        let sent: Value = serde_json::from_str(body)?;
        assert_eq!(
            sent,
            json!({"headers": {"X-WX-Code": "wx-code-1", "X-WX-IV": "iv-1"}})
        );
        assert_eq!(sig, "valid", "signed over the timestamp and the body");
    }
    // A login code the relay issued is used as one, not forwarded.
    r.login("coded").await?;
    assert_eq!(seen.lock().map(|s| s.len()).unwrap_or_default(), 1);
    r.stop().await?;

    // The site may name its own headers.
    let r = relay_verifying(
        &format!("http://{addr}/ok"),
        Some(vec!["X-Site-Token".into()]),
    )
    .await?;
    let (st, _, _) = send(login(&r).header("X-Site-Token", "t")).await?;
    assert_eq!(st, 200);
    let (st, _, body) = send(login(&r).header("X-WX-Code", "stale")).await?;
    assert_login_failed(st, &body);
    r.stop().await
}

#[tokio::test]
async fn delegated_auth_refuses_on_every_failure() -> Result<()> {
    let (addr, _) = verifier().await?;
    // A port with nothing listening: connection refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    for url in [
        format!("http://{addr}/refuse"),
        format!("http://{addr}/slow"),
        format!("http://{addr}/garbage"),
        format!("http://{addr}/bad-id"),
        format!("http://{closed}/down"),
    ] {
        let r = relay_verifying(&url, None).await?;
        let started = Instant::now();
        let (st, _, body) = send(login(&r).header("X-WX-Code", "wx-code")).await?;
        assert_login_failed(st, &body);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{url}: the timeout bounds the wait"
        );
        r.stop().await?;
    }
    Ok(())
}
