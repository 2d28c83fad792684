//! CometQL with real MySQL clients: Debian's `mariadb-client` (`mysql`) and PHP `mysqli`
//! drive a relay on port 0; a native client receives what they send.

mod common;

use std::net::SocketAddr;
use std::process::Output;

use anyhow::{Context, Result, bail};
use cometa_relay::{Config, Relay};
use common::{KEY, Native, TestRelay, WAIT};
use serde_json::json;

/// A relay with CometQL on its own port 0.
struct CqlRelay {
    r: TestRelay,
    cql: SocketAddr,
}

impl CqlRelay {
    async fn start(tune: impl FnOnce(&mut Config)) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut cfg = Config::for_data_dir(dir.path());
        cfg.api_key = Some(KEY.into());
        cfg.static_dir = None;
        cfg.cometql_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        tune(&mut cfg);
        let mut relay = Relay::open(cfg)?;
        let cql = relay.bind_cometql().await?.context("CometQL not bound")?;
        Ok(Self {
            r: TestRelay::serve(relay, dir).await?,
            cql,
        })
    }

    async fn stop(self) -> Result<()> {
        self.r.stop().await
    }

    /// `mysql … -e sql` with `password`; the raw process output.
    async fn mysql_as(&self, password: &str, sql: &str) -> Result<Output> {
        let run = tokio::process::Command::new("mysql")
            .args(["-h", "127.0.0.1", "-P", &self.cql.port().to_string()])
            .args(["-u", "15", &format!("-p{password}"), "--protocol=TCP"])
            .args(["--batch", "--skip-column-names", "CometQL_v1", "-e", sql])
            .kill_on_drop(true)
            .output();
        Ok(tokio::time::timeout(WAIT, run)
            .await
            .context("mysql hung")??)
    }

    /// Rows of a statement that must succeed, each as its tab-separated cells.
    async fn mysql(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        let out = self.mysql_as(KEY, sql).await?;
        if !out.status.success() {
            bail!("{sql}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect())
    }

    /// The error text of a statement that must fail.
    async fn mysql_err(&self, sql: &str) -> Result<String> {
        let out = self.mysql_as(KEY, sql).await?;
        if out.status.success() {
            bail!("{sql} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        }
        Ok(String::from_utf8(out.stderr)?)
    }

    /// `php -r script` with the relay's key and CometQL port in `CQL_KEY` and `CQL_PORT`.
    async fn php(&self, script: &str) -> Result<Output> {
        let run = tokio::process::Command::new("php")
            .args(["-r", script])
            .env("CQL_KEY", KEY)
            .env("CQL_PORT", self.cql.port().to_string())
            .kill_on_drop(true)
            .output();
        Ok(tokio::time::timeout(WAIT, run)
            .await
            .context("php hung")??)
    }

    /// A native client authenticated with the key CometQL set.
    async fn native_with_key(&self, user: &str, key: &str) -> Result<(Native, serde_json::Value)> {
        let mut n = self.r.native().await?;
        let reply = n
            .request(
                "auth",
                json!({"user_id": user, "user_key": key, "device": format!("device-{user}-cql")}),
            )
            .await?;
        Ok((n, reply))
    }
}

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn mariadb_client_drives_every_table() -> Result<()> {
    let c = CqlRelay::start(|_| {}).await?;

    // users_auth: the key a page logs in with.
    c.mysql("INSERT INTO users_auth (id, hash) VALUES (15, 'auth_hash15')")
        .await?;
    let (mut n, reply) = c.native_with_key("15", "auth_hash15").await?;
    assert_eq!(reply["result"]["user_id"], "15", "{reply}");
    c.mysql("REPLACE INTO users_auth (id, hash) VALUES (15, 'auth_hash15b')")
        .await?;
    let (_, replaced) = c.native_with_key("15", "auth_hash15").await?;
    assert!(
        replaced["error"].is_object(),
        "the old key is gone: {replaced}"
    );
    // Stored hashed: the select shows the key's SHA-256; a user without a key has no row.
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"auth_hash15b"));
    assert_eq!(
        c.mysql("select * from users_auth where id in (15, 16)")
            .await?,
        rows(&[&["15", &sha]])
    );

    // users_messages: to every device of the user, live.
    c.mysql("INSERT INTO users_messages (id, event, message) VALUES (15, 'ev', 'hello')")
        .await?;
    let p = n.publication().await?;
    assert_eq!(
        (&p["channel"], &p["event"], &p["data"]),
        (&json!("msg"), &json!("ev"), &json!("hello"))
    );
    c.mysql(r#"INSERT INTO users_messages (id, event, message) VALUES (15, 'ev', '{"a":1}')"#)
        .await?;
    assert_eq!(n.publication().await?["data"], json!({"a": 1}));

    // users_messages for a user who is offline: queued, listed, then cleared.
    c.mysql("INSERT INTO users_messages VALUES (99, 'e1', 'one'), (99, 'e2', 'two')")
        .await?;
    assert_eq!(
        c.mysql("SELECT * FROM users_messages WHERE id = 99")
            .await?,
        rows(&[&["99", "0", "e1", "one"], &["99", "1", "e2", "two"]])
    );
    c.mysql("DELETE FROM users_messages WHERE id = 99").await?;
    assert!(
        c.mysql("SELECT * FROM users_messages WHERE id = 99")
            .await?
            .is_empty()
    );

    // pipes_messages and pipes: a channel publish reaches the subscriber.
    n.request("subscribe", json!({"channel": "web_room"}))
        .await?;
    c.mysql(
        r#"insert into pipes_messages (name, event, message) values ("web_room", "say", "hi")"#,
    )
    .await?;
    let p = n.publication().await?;
    assert_eq!(
        (&p["channel"], &p["event"], &p["data"]),
        (&json!("web_room"), &json!("say"), &json!("hi"))
    );
    assert_eq!(
        c.mysql("select * from pipes where name in ('web_room', 'web_empty')")
            .await?,
        rows(&[&["web_room", "1"], &["web_empty", "0"]])
    );

    // pipes_settings, then pipes_messages' history.
    c.mysql("insert into pipes_settings (name, length) values ('hist', 2)")
        .await?;
    assert_eq!(
        c.mysql("select * from pipes_settings where name = 'hist'")
            .await?,
        rows(&[&["hist", "2"]])
    );
    for m in ["m1", "m2", "m3"] {
        c.mysql(&format!(
            "insert into pipes_messages (name, event, message) values ('hist', 'e', '{m}')"
        ))
        .await?;
    }
    assert_eq!(
        c.mysql("select name, event, message from pipes_messages where name = 'hist'")
            .await?,
        rows(&[&["hist", "e", "m2"], &["hist", "e", "m3"]])
    );
    c.mysql("delete from pipes_settings where name = 'hist'")
        .await?;

    // users_in_pipes: the members of a track_ channel.
    n.request("subscribe", json!({"channel": "track_online"}))
        .await?;
    assert_eq!(
        c.mysql("select * from users_in_pipes where name = 'track_online'")
            .await?,
        rows(&[&["track_online", "15"]])
    );

    // users_time: 0 while online, -1 when never seen.
    assert_eq!(
        c.mysql("select * from users_time where id in (15, 145)")
            .await?,
        rows(&[&["15", "0"], &["145", "-1"]])
    );

    let status = c.mysql("show status").await?;
    assert!(status.iter().any(|r| r[0] == "connections"), "{status:?}");

    // users_auth delete: the key is revoked and the live connection closed.
    c.mysql("DELETE FROM users_auth WHERE id = 15").await?;
    loop {
        let f = n.frame().await?;
        if f.starts_with("closed:") {
            break;
        }
    }
    let (_, refused) = c.native_with_key("15", "auth_hash15b").await?;
    assert!(refused["error"].is_object(), "{refused}");
    c.stop().await
}

#[tokio::test]
async fn errors_carry_cppcomet_codes_and_limits_hold() -> Result<()> {
    let c = CqlRelay::start(|cfg| {
        cfg.cometql_max_statement_bytes = 256;
        cfg.cometql_max_rows = 2;
    })
    .await?;
    let cases = [
        ("selec * from pipes", "[3]"),
        ("select * from nope where id = 1", "[15]"),
        ("select * from pipes", "[13]"),
        ("insert into pipes (name, users) values ('a', 1)", "[10]"),
        ("delete from users_time where id = 1", "[10]"),
        ("drop table pipes", "[2]"),
        ("select nope from pipes where name = 'a'", "[14]"),
        (
            "insert into users_messages (id, event) values ('bad id!', 'e')",
            "[12]",
        ),
        ("select * from users_time where id in (1, 2, 3)", "[11]"),
    ];
    for (sql, code) in cases {
        let err = c.mysql_err(sql).await?;
        assert!(err.contains(code), "{sql}: {err}");
    }
    let long = format!(
        "insert into pipes_messages (name, event, message) values ('web_a', 'e', '{}')",
        "x".repeat(300)
    );
    assert!(c.mysql_err(&long).await?.contains("[11]"));
    // Far over the limit: the connection is closed before the packet is buffered.
    let huge = format!("select '{}'", "x".repeat(4096));
    let err = c.mysql_err(&huge).await?;
    assert!(
        !err.contains("[11]") && err.contains("Lost connection"),
        "{err}"
    );
    // Still serving.
    assert_eq!(
        c.mysql("select * from users_time where id = 1").await?,
        rows(&[&["1", "-1"]])
    );

    let wrong = c.mysql_as("not-the-key", "show status").await?;
    assert!(!wrong.status.success());
    let text = String::from_utf8(wrong.stderr)?;
    assert!(text.contains("Authenticate failed"), "{text}");
    c.stop().await
}

/// CppComet's `users_data`: a user's public data, what a page reads with `getUserData`.
#[tokio::test]
async fn users_data_is_what_get_user_data_reads() -> Result<()> {
    let c = CqlRelay::start(|_| {}).await?;
    c.mysql(r#"INSERT INTO users_data (id, data) VALUES (21, '{"rand":"0.5"}')"#)
        .await?;
    c.mysql(r#"REPLACE INTO users_data (id, data) VALUES (21, '{"rand":"0.7"}')"#)
        .await?;
    assert_eq!(
        c.mysql("select * from users_data where id in (21, 22)")
            .await?,
        rows(&[&["21", r#"{"rand":"0.7"}"#]])
    );
    let mut n = c.r.native().await?;
    let got = n.request("user_data", json!({"user_id": "21"})).await?;
    assert_eq!(
        got["result"],
        json!({"user_id": "21", "data": {"rand": "0.7"}})
    );
    // The API's rule: an object, nothing else.
    let err = c
        .mysql_err("INSERT INTO users_data (id, data) VALUES (21, 'text')")
        .await?;
    assert!(err.contains("[12]"), "{err}");
    let err = c.mysql_err("DELETE FROM users_data WHERE id = 21").await?;
    assert!(err.contains("[2]"), "{err}");
    c.stop().await
}

#[tokio::test]
async fn php_mysqli_pushes_to_a_user() -> Result<()> {
    let c = CqlRelay::start(|_| {}).await?;
    c.mysql("INSERT INTO users_auth (id, hash) VALUES (7, 'key-of-seven')")
        .await?;
    let (mut n, _) = c.native_with_key("7", "key-of-seven").await?;
    let script = r#"
        $link = mysqli_connect("127.0.0.1", "15", getenv("CQL_KEY"), "CometQL_v1", (int) getenv("CQL_PORT"));
        mysqli_query($link, "INSERT INTO users_messages (id, event, message) VALUES (7, 'news', 'from php')");
        $result = mysqli_query($link, "SELECT * FROM users_time WHERE id = 7");
        $row = mysqli_fetch_assoc($result);
        echo $row["time"], "\n";
        mysqli_report(MYSQLI_REPORT_OFF);
        mysqli_query($link, "SELECT * FROM pipes");
        echo mysqli_errno($link), " ", mysqli_error($link), "\n";
    "#;
    let out = c.php(script).await?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = n.publication().await?;
    assert_eq!(
        (&p["event"], &p["data"]),
        (&json!("news"), &json!("from php"))
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "online: {stdout}");
    assert!(lines.get(1).is_some_and(|l| l.contains("[13]")), "{stdout}");

    let out = c
        .php(
            r#"mysqli_report(MYSQLI_REPORT_OFF);
               $l = @mysqli_connect("127.0.0.1", "15", "wrong", "CometQL_v1", (int) getenv("CQL_PORT"));
               echo $l ? "connected" : "refused";"#,
        )
        .await?;
    assert_eq!(String::from_utf8(out.stdout)?, "refused");
    c.stop().await
}

/// Reads until the server closes; `Some(bytes read)` when it did within `WAIT`.
async fn read_to_close(tcp: &mut tokio::net::TcpStream) -> Option<usize> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
            Ok(Ok(n)) => total += n,
            Err(_) => return None,
        }
    }
}

/// The server's greeting: a first read that returns bytes.
async fn greeting(tcp: &mut tokio::net::TcpStream) -> Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    Ok(tokio::time::timeout(WAIT, tcp.read(&mut buf)).await??)
}

#[tokio::test]
async fn connections_are_capped_and_end_with_the_relay() -> Result<()> {
    let c = CqlRelay::start(|cfg| {
        cfg.cometql_max_connections = 2;
        cfg.handshake_timeout = std::time::Duration::from_secs(60);
    })
    .await?;
    let mut a = tokio::net::TcpStream::connect(c.cql).await?;
    let mut b = tokio::net::TcpStream::connect(c.cql).await?;
    assert!(greeting(&mut a).await? > 0);
    assert!(greeting(&mut b).await? > 0);
    let mut over = tokio::net::TcpStream::connect(c.cql).await?;
    assert_eq!(
        read_to_close(&mut over).await,
        Some(0),
        "closed without a greeting"
    );

    let cql = c.cql;
    c.stop().await?;
    assert!(read_to_close(&mut a).await.is_some(), "closed at shutdown");
    assert!(read_to_close(&mut b).await.is_some(), "closed at shutdown");
    assert!(tokio::net::TcpStream::connect(cql).await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_client_that_never_logs_in_is_closed() -> Result<()> {
    let c = CqlRelay::start(|cfg| {
        cfg.handshake_timeout = std::time::Duration::from_millis(200);
    })
    .await?;
    let mut idle = tokio::net::TcpStream::connect(c.cql).await?;
    assert!(greeting(&mut idle).await? > 0);
    assert!(read_to_close(&mut idle).await.is_some());
    // A client that logs in stays past the deadline.
    let script = r#"
        $link = mysqli_connect("127.0.0.1", "15", getenv("CQL_KEY"), "CometQL_v1", (int) getenv("CQL_PORT"));
        usleep(600000);
        $r = mysqli_query($link, "SELECT * FROM users_time WHERE id = 1");
        echo mysqli_fetch_assoc($r)["time"];
    "#;
    let out = c.php(script).await?;
    assert_eq!(String::from_utf8(out.stdout)?, "-1");
    c.stop().await
}
