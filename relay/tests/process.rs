//! The relay as a real process: flags, the listening line, and `kill -9` durability.

mod common;

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KEY: &str = common::KEY;

use common::process::{spawn, spawn_with};

#[tokio::test]
async fn acknowledged_pushes_survive_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn(dir.path(), "127.0.0.1:0").await?;
    let http = reqwest::Client::new();

    // Push concurrently and kill the relay while requests are in flight.
    let pushes = (0..200).map(|i| {
        let (http, addr) = (http.clone(), addr.clone());
        tokio::spawn(async move {
            let res = http
                .post(format!("http://{addr}/api/v1/users/k9/messages"))
                .bearer_auth(KEY)
                .json(&json!({"event": "n", "data": i}))
                .send()
                .await
                .ok()?;
            if !res.status().is_success() {
                return None;
            }
            let body: serde_json::Value = res.json().await.ok()?;
            Some((body["seq"].as_u64()?, i))
        })
    });
    let pushes: Vec<_> = pushes.collect();
    // Kill once some have been answered, so both sides of the line are exercised.
    let probe = http
        .post(format!("http://{addr}/api/v1/users/k9/messages"))
        .bearer_auth(KEY)
        .json(&json!({"event": "n", "data": -1}))
        .send()
        .await?;
    let probe: serde_json::Value = probe.json().await?;
    let probe_seq = probe["seq"].as_u64().context("probe seq")?;
    child.start_kill()?;
    child.wait().await?;
    let mut acked = vec![(probe_seq, -1)];
    for p in pushes {
        if let Some(a) = p.await? {
            acked.push(a);
        }
    }
    acked.sort();

    let (_child, addr2) = spawn(dir.path(), &addr).await?;
    assert_eq!(addr2, addr);
    let r = common::TestRelay::attach(addr.parse()?);
    let skey = r.login("k9").await?;
    let mut t = r.tunnel(&skey).await?;
    let mut got = Vec::new();
    let last = acked.last().map_or(0, |a| a.0);
    while got.last().is_none_or(|&(s, _)| s < last) {
        let (_, content) = t.message().await?;
        got.push((got.len() as u64 + 1, content.as_i64().unwrap_or(i64::MIN)));
    }
    for (seq, data) in &acked {
        let Some(&(_, seen)) = got.get((*seq - 1) as usize) else {
            bail!("acknowledged seq {seq} missing after restart");
        };
        assert_eq!(
            seen, *data,
            "seq {seq} carries the data it was acknowledged with"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_flags_fail_fast_with_a_message() -> Result<()> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_cometa-relay"))
            .args(["--outbound-queue", "0"])
            .output(),
    )
    .await??;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outbound-queue"), "{err}");
    Ok(())
}

#[tokio::test]
async fn toml_config_file_is_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("relay.toml");
    std::fs::write(&cfg, "max-devices-per-user = 1\nbogus-key = 2\n")?;
    let out = Command::new(env!("CARGO_BIN_EXE_cometa-relay"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .await?;
    assert!(!out.status.success(), "unknown keys are refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus-key"));
    Ok(())
}

/// Flag > `COMETA_*` env > TOML file > default, seen through `healthcheck`, which reads the
/// settings as the relay does: a refused value in a source that is outranked is never read,
/// so the check gets as far as probing (nothing listens on port 1: "unhealthy").
#[tokio::test]
async fn flag_beats_env_and_env_beats_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        "outbound-queue = 0
",
    )?;
    let check = |env: Option<&'static str>, flag: Option<&'static str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cometa-relay"));
        cmd.args(["healthcheck", "--listen", "127.0.0.1:1", "--config"])
            .arg(&cfg);
        if let Some(v) = env {
            cmd.env("COMETA_OUTBOUND_QUEUE", v);
        }
        if let Some(v) = flag {
            cmd.args(["--outbound-queue", v]);
        }
        async move {
            let out = tokio::time::timeout(common::WAIT, cmd.output()).await??;
            anyhow::Ok(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let refused = "invalid setting `outbound-queue`: must be greater than 0";
    assert!(
        check(None, None).await?.contains(refused),
        "the file is read"
    );
    assert!(
        check(Some("5"), None).await?.contains("unhealthy"),
        "env beats file"
    );
    assert!(
        check(Some("0"), None).await?.contains(refused),
        "env is read"
    );
    let flag = check(Some("0"), Some("5")).await?;
    assert!(flag.contains("unhealthy"), "flag beats env: {flag}");
    Ok(())
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn_with(dir.path(), "127.0.0.1:0", |cmd| {
        cmd.args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped());
    })
    .await?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let r = common::TestRelay::attach(addr.parse()?);
    let skey = r.login("json-logs").await?;
    // The login's info line; every line before it must be JSON too.
    loop {
        let line = tokio::time::timeout(common::WAIT, lines.next_line())
            .await
            .context("no log line")??
            .context("relay exited")?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("log line is not JSON: {line:?}"))?;
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        assert!(!line.contains(&skey), "a session key was logged: {line}");
        if v["fields"]["message"] == "login" {
            assert_eq!(v["level"], "INFO");
            assert_eq!(v["fields"]["user"], "json-logs");
            break;
        }
    }
    Ok(())
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_live_relay_and_1_otherwise() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, addr) = spawn(dir.path(), "127.0.0.1:0").await?;
    let check = |listen: String| async move {
        let out = tokio::time::timeout(
            common::WAIT,
            Command::new(env!("CARGO_BIN_EXE_cometa-relay"))
                .args(["healthcheck", "--listen", &listen])
                .output(),
        )
        .await??;
        anyhow::Ok(out)
    };
    let up = check(addr.clone()).await?;
    assert!(up.status.success(), "{up:?}");
    // The image listens on 0.0.0.0; the check reaches that on loopback.
    let port = addr.rsplit(':').next().context("port")?;
    let wildcard = check(format!("0.0.0.0:{port}")).await?;
    assert!(wildcard.status.success(), "{wildcard:?}");
    child.start_kill()?;
    child.wait().await?;
    let down = check(addr).await?;
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));
    Ok(())
}
