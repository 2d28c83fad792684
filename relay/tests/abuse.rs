//! Hostile clients against a real relay: concurrent password guessing, a full password hasher,
//! user-key guessing on native connections, half-sent requests, connection floods from one
//! address and native sockets that never authenticate.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::TestRelay;
use common::login::{basic, login, register, send};
use serde_json::{Value, json};

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
