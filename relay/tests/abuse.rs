//! Hostile clients against a real relay: concurrent password guessing, a full password hasher,
//! user-key guessing on native connections, half-sent requests, connection floods from one
//! address and native sockets that never authenticate.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use common::login::{basic, login, register, send};
use common::{Native, TestRelay, WAIT};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};

/// Password checks run Argon2 a few at a time: bounds a whole burst of them.
const BURST: Duration = Duration::from_secs(60);

/// Sends `n` wrong-password logins at once; returns each answer's status, `Retry-After` and body.
async fn concurrent_logins(
    r: &TestRelay,
    n: usize,
    user: impl Fn(usize) -> String,
) -> Result<Vec<(u16, Option<String>, Value)>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = login(r).header("Authorization", basic(&user(i), "wrong-password"));
            tokio::spawn(async move {
                let (st, headers, body) = send(req).await?;
                let retry = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                anyhow::Ok((st, retry, body))
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            tokio::time::timeout(BURST, t)
                .await
                .context("login hung")???,
        );
    }
    Ok(out)
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_race_past_the_account_limit() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.login_failures_per_account = 5;
        c.login_failures_per_address = 1000;
        c.hash_wait = BURST;
    })
    .await?;
    register(
        &r,
        json!({"user_id": "gil", "username": "gil", "password": "gil-password"}),
    )
    .await?;
    let answers = concurrent_logins(&r, 60, |_| "gil".into()).await?;
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 401).collect();
    let limited: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(refused.len() <= 5, "{} answers were 401", refused.len());
    assert_eq!(refused.len() + limited.len(), 60, "{answers:?}");
    for (_, retry, body) in limited {
        assert_eq!(body["error"], "ERR_TOO_MANY_ATTEMPTS", "{body}");
        assert!(retry.is_some(), "429 without Retry-After");
    }
    r.stop().await
}

#[tokio::test]
async fn a_full_password_hasher_answers_503_with_retry_after() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.login_failures_per_account = 1000;
        c.login_failures_per_address = 1000;
        c.hash_concurrency = 1;
        c.hash_wait = Duration::ZERO;
    })
    .await?;
    let answers = concurrent_logins(&r, 8, |i| format!("nobody-{i}")).await?;
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(
        answers.iter().all(|a| a.0 == 401 || a.0 == 503),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a.0 == 401),
        "one hash at a time still runs"
    );
    assert!(
        !busy.is_empty(),
        "8 concurrent hashes with one permit: {answers:?}"
    );
    for (_, retry, body) in busy {
        assert_eq!(
            (&body["code"], body["error"].as_str()),
            (&json!(503), Some("ERR_BUSY")),
            "{body}"
        );
        assert!(body["message"].is_string());
        assert_eq!(retry.as_deref(), Some("1"));
    }
    r.stop().await
}

#[tokio::test]
async fn ipv6_neighbours_in_one_64_share_the_address_limit() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.login_failures_per_address = 1;
        c.trust_forwarded_for = true;
    })
    .await?;
    let from = |ip: &str, user: &str| {
        login(&r)
            .header("X-Forwarded-For", ip)
            .header("Authorization", basic(user, "wrong-password"))
    };
    assert_eq!(send(from("2001:db8:0:7::1", "a")).await?.0, 401);
    assert_eq!(
        send(from("2001:db8:0:7:ffff::2", "b")).await?.0,
        429,
        "same /64"
    );
    assert_eq!(
        send(from("2001:db8:0:8::1", "c")).await?.0,
        401,
        "another /64"
    );
    r.stop().await
}

/// A TCP connection to the relay from `source` (any of 127/8 is loopback).
async fn connect_from(source: [u8; 4], r: &TestRelay) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(tokio::time::timeout(WAIT, socket.connect(r.addr)).await??)
}

/// A native connection from `source` whose first frame is `auth` with this user key; returns
/// the reply and, when the relay then closes, the close code.
async fn auth_with_key(
    r: &TestRelay,
    source: [u8; 4],
    user: &str,
    key: &str,
) -> Result<(Value, Option<String>)> {
    let tcp = connect_from(source, r).await?;
    let url = format!("ws://{}/connect", r.addr);
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tcp)).await??;
    let mut n = Native::from(ws);
    let reply = n
        .request("auth", json!({"user_id": user, "user_key": key}))
        .await?;
    if reply.get("error").is_none() || reply["error"]["code"] == json!(4004) {
        return Ok((reply, None));
    }
    loop {
        let f = n.frame().await?;
        if let Some(code) = f.strip_prefix("closed:") {
            return Ok((reply, Some(code.to_string())));
        }
    }
}

#[tokio::test]
async fn user_key_guesses_are_limited_per_user_and_per_address() -> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.key_failures_per_user = 3;
        c.key_failures_per_address = 5;
    })
    .await?;
    for (user, key) in [("kim", "kim-secret-key"), ("lee", "lee-secret-key")] {
        let (st, body) = r
            .api(
                "PUT",
                &format!("/users/{user}/key"),
                Some(json!({"key": key})),
            )
            .await?;
        anyhow::ensure!(st == 200, "put key: {st} {body}");
    }
    let here = [127, 0, 0, 1];
    for i in 0..3 {
        let (reply, closed) = auth_with_key(&r, here, "kim", &format!("guess-{i}")).await?;
        assert_eq!(reply["error"]["code"], 4004, "guess {i}: {reply}");
        assert_eq!(closed, None);
    }
    // The user's limit is reached: even the right key waits, from any address.
    for (source, key) in [(here, "guess-3"), ([127, 0, 0, 2], "kim-secret-key")] {
        let (reply, closed) = auth_with_key(&r, source, "kim", key).await?;
        assert_eq!(reply["error"]["code"], 4006, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("retry in"), "{message}");
        assert_eq!(closed.as_deref(), Some("4504"));
    }
    // Two more failures on other users reach this address's limit of 5.
    for user in ["lee", "nobody"] {
        let (reply, _) = auth_with_key(&r, here, user, "wrong-key").await?;
        assert_eq!(reply["error"]["code"], 4004, "{reply}");
    }
    let (reply, closed) = auth_with_key(&r, here, "lee", "lee-secret-key").await?;
    assert_eq!(
        (&reply["error"]["code"], closed.as_deref()),
        (&json!(4006), Some("4504")),
        "address limit: {reply}"
    );
    // Another address is not limited by this one.
    let (reply, _) = auth_with_key(&r, [127, 0, 0, 2], "lee", "lee-secret-key").await?;
    assert_eq!(reply["result"]["user_id"], "lee", "{reply}");
    r.stop().await
}
