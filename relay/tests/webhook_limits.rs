//! The webhook under pressure and under attack: a queue bounded by bytes, signed timestamps,
//! redirects never followed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use common::{Seen, TestRelay};
use tokio::sync::mpsc;

/// A webhook URL whose server accepts connections and never answers.
async fn silent_server() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    Ok(url)
}

/// A receiver at `/hook` that reports each request's headers and body, answering `status`
/// (with `Location: location` when given).
async fn receiver(
    status: StatusCode,
    location: Option<String>,
) -> Result<(String, mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(tx);
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (tx, location) = (tx.clone(), location.clone());
            async move {
                let _ = tx.send((headers, body.to_vec()));
                let mut answer = HeaderMap::new();
                if let Some(l) = location.and_then(|l| l.parse().ok()) {
                    answer.insert(header::LOCATION, l);
                }
                (status, answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, rx))
}

#[tokio::test]
async fn a_full_webhook_queue_refuses_client_messages_by_bytes() -> Result<()> {
    let url = silent_server().await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_timeout = Duration::from_secs(60);
        c.webhook_queue_bytes = 64 * 1024;
    })
    .await?;
    let skey = r.login("talker").await?;
    let mut t = r.tunnel(&skey).await?;
    let content = "x".repeat(20 * 1024);
    for _ in 0..10 {
        t.send(&format!(
            r#"message:{{"type":"say","content":"{content}"}}"#
        ))
        .await?;
    }
    t.send("ping").await?;
    let mut refused = 0;
    loop {
        match t.next().await? {
            Seen::Text(p) if p == "pong" => break,
            Seen::Text(e) if e.starts_with("error:") => {
                assert!(e.contains("4006") && e.contains("webhook queue"), "{e}");
                refused += 1;
            }
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    // 64 KiB hold three 20 KiB messages besides the connect event stuck in delivery.
    assert_eq!(refused, 7, "the rest were refused, each told");
    r.stop().await
}

#[tokio::test]
async fn webhooks_sign_a_timestamp_and_never_follow_redirects() -> Result<()> {
    let (elsewhere, mut redirected) = receiver(StatusCode::OK, None).await?;
    let (url, mut hits) = receiver(StatusCode::TEMPORARY_REDIRECT, Some(elsewhere)).await?;
    let r = TestRelay::start_with(|c| {
        c.webhook_url = url.parse().ok();
        c.webhook_secret = Some("hook-secret".into());
        c.webhook_max_attempts = 1;
    })
    .await?;
    let skey = r.login("hooked").await?;
    let mut t = r.tunnel(&skey).await?;
    t.send(r#"message:{"type":"say","content":1}"#).await?;
    for kind in ["connect", "message"] {
        let (headers, body) = tokio::time::timeout(common::WAIT, hits.recv())
            .await?
            .context("no webhook request")?;
        assert!(
            headers.contains_key("x-cometa-timestamp"),
            "an X-Cometa-Timestamp header"
        );
        assert!(
            common::signed::signed(&headers, &body, "hook-secret"),
            "signed over a fresh timestamp and the body"
        );
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        assert_eq!(v["type"], kind);
    }
    // The worker is sequential: the message event was sent after the connect event's
    // request, redirect included, was over.
    assert!(
        redirected.try_recv().is_err(),
        "the redirect was not followed"
    );
    r.stop().await
}
