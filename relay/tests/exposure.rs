//! What the relay exposes beyond its protocol: demo mode, CORS, the SDK folder, data file
//! modes, and the identities it accepts (user id rules, JWT limits).

mod common;

use anyhow::{Context, Result};
use common::TestRelay;
use common::login::{login, send};
use serde_json::{Value, json};

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    let (st, _, body) = send(login(&r)).await?;
    assert_eq!(st, 200, "a visitor login writes the store: {body}");
    r.stop().await?;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    assert_eq!(mode(&dir)?, 0o700, "the data dir");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        // SQLite's `-wal`/`-shm` files go away as its connection closes, which the store
        // thread may still be doing: one that vanished between the listing and here held
        // nothing any more.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "{}",
            path.display()
        );
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
