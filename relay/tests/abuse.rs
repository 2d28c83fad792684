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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    let answers = concurrent_logins(&r, 16, |i| format!("nobody-{i}")).await?;
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
        "16 concurrent hashes with one permit: {answers:?}"
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

async fn write(tcp: &mut TcpStream, bytes: &[u8]) -> Result<()> {
    tokio::time::timeout(WAIT, tcp.write_all(bytes)).await??;
    Ok(())
}

/// A whole `GET /healthz` on `tcp`; returns the start of the answer.
async fn healthz(tcp: &mut TcpStream) -> Result<String> {
    write(tcp, b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n").await?;
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf)).await??;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Reads until the relay closes `tcp`; an error if it is still open after `WAIT`.
async fn closed_by_relay(tcp: &mut TcpStream) -> Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Err(_) => anyhow::bail!("the connection is still open after {WAIT:?}"),
            Ok(Ok(0) | Err(_)) => return Ok(()),
            Ok(Ok(_)) => {}
        }
    }
}

const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: ";

#[tokio::test]
async fn half_sent_requests_and_idle_keep_alives_are_closed_after_the_header_timeout() -> Result<()>
{
    let r = TestRelay::start_with(|c| c.http_header_timeout = Duration::from_millis(300)).await?;
    let mut slow = connect_from([127, 0, 0, 1], &r).await?;
    write(&mut slow, HALF_SENT).await?;
    closed_by_relay(&mut slow).await?;

    let mut idle = connect_from([127, 0, 0, 1], &r).await?;
    let answer = healthz(&mut idle).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    closed_by_relay(&mut idle).await?;

    let mut silent = connect_from([127, 0, 0, 1], &r).await?;
    closed_by_relay(&mut silent).await?;
    r.stop().await
}

#[tokio::test]
async fn a_body_trickled_past_the_request_deadline_gets_408() -> Result<()> {
    let r = TestRelay::start_with(|c| c.http_request_timeout = Duration::from_millis(500)).await?;
    let mut tcp = connect_from([127, 0, 0, 1], &r).await?;
    write(
        &mut tcp,
        b"POST /weapp/login HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"user",
    )
    .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"error\":\"ERR_REQUEST_TIMEOUT\""),
        "{answer}"
    );
    r.stop().await
}

#[tokio::test]
async fn one_address_over_its_connection_cap_is_refused_while_others_are_served() -> Result<()> {
    let r = TestRelay::start_with(|c| c.max_connections_per_address = 4).await?;
    let here = [127, 0, 0, 1];
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut tcp = connect_from(here, &r).await?;
        write(&mut tcp, HALF_SENT).await?;
        held.push(tcp);
    }
    let mut fifth = connect_from(here, &r).await?;
    // The write may already fail: the relay closed the socket at accept.
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await;
    closed_by_relay(&mut fifth).await?;

    let mut neighbour = connect_from([127, 0, 0, 2], &r).await?;
    let answer = healthz(&mut neighbour).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Closing one gives its place back once the relay sees the close.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut again = connect_from(here, &r).await?;
        match healthz(&mut again).await {
            Ok(a) if a.starts_with("HTTP/1.1 200") => break,
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => anyhow::bail!("no place freed: {other:?}"),
        }
    }
    drop((held, neighbour));
    r.stop().await
}

#[tokio::test]
async fn a_native_socket_that_never_authenticates_counts_and_is_closed_at_the_deadline()
-> Result<()> {
    let r = TestRelay::start_with(|c| {
        c.max_connections = 1;
        c.handshake_timeout = Duration::from_secs(2);
    })
    .await?;
    let mut silent = r.native().await?;
    let url = format!("ws://{}/connect", r.addr);
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url)).await? {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503);
        }
        other => anyhow::bail!("a second socket past --max-connections 1: {other:?}"),
    }
    assert_eq!(silent.frame().await?, "closed:4004");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => anyhow::bail!("the slot was not given back: {e}"),
        }
    }
    r.stop().await
}

/// Resident memory of a process in KiB, from `/proc`.
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_burst_of_password_checks_leaves_no_memory_behind() -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cometa-relay"))
        .args(["--listen", "127.0.0.1:0", "--api-key", common::KEY])
        .args(["--hash-concurrency", "2", "--hash-wait-ms", "60000"])
        .args(["--login-failures-per-account", "1000"])
        .args(["--login-failures-per-address", "1000"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let line = tokio::time::timeout(WAIT, tokio::io::BufReader::new(stdout).lines().next_line())
        .await??
        .context("relay exited")?;
    let addr = line
        .strip_prefix("cometa-relay listening on http://")
        .context("listening line")?;
    let pid = child.id().context("pid")?;
    let r = TestRelay::attach(addr.parse()?);
    // One check first: the throw-away hash and the runtime's own allocations are not growth.
    concurrent_logins(&r, 1, |_| "warm-up".into()).await?;
    let before = rss_kib(pid)?;
    let answers = concurrent_logins(&r, 100, |i| format!("nobody-{i}")).await?;
    assert!(answers.iter().all(|a| a.0 == 401), "{answers:?}");
    let grown = rss_kib(pid)?.saturating_sub(before);
    // Two permits hold two 19 MiB buffers; allocated per hash, every blocking thread's malloc
    // arena kept its own (300+ MiB here).
    assert!(grown < 80 * 1024, "RSS grew by {} MiB", grown / 1024);
    Ok(())
}
