//! Test harness: a relay on port 0 in this process, an HTTP client, and a tunnel client over
//! a real WebSocket.
#![allow(dead_code)]

pub mod login;
pub mod process;
pub mod signed;
pub mod webhook;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use cometa_relay::Config;
pub use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const KEY: &str = "test-api-key-0123456789";
/// Every await on the relay is bounded by this, so a bug fails the test instead of hanging it.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestRelay {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestRelay {
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut r = Self::start_in(dir.path(), None, tune).await?;
        r._dir = Some(dir);
        Ok(r)
    }

    /// Starts on `dir`, on `addr` when given (a restart on the same port).
    pub async fn start_in(
        dir: &Path,
        addr: Option<SocketAddr>,
        tune: impl FnOnce(&mut Config),
    ) -> Result<Self> {
        let mut cfg = Config::for_data_dir(dir);
        cfg.api_key = Some(KEY.into());
        cfg.static_dir = None;
        // Stopping a test relay closes its connections at once; the drain spread has its own
        // tests (drain.rs), which set a window.
        cfg.drain = Duration::ZERO;
        tune(&mut cfg);
        let listener =
            tokio::net::TcpListener::bind(addr.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))))
                .await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = cometa_relay::run(listener, cfg, shutdown).await {
                eprintln!("relay failed: {e}");
            }
        });
        Ok(Self {
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        })
    }

    /// A handle on a relay running elsewhere (another process).
    pub fn attach(addr: SocketAddr) -> Self {
        Self {
            addr,
            http: reqwest::Client::new(),
            stop: None,
            task: None,
            _dir: None,
        }
    }

    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t).await??;
        }
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Calls the back-end API; returns status and JSON body.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(m, self.url(&format!("/api/v1{path}")))
            .bearer_auth(KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub async fn login_code(&self, user: &str) -> Result<String> {
        let (st, body) = self
            .api(
                "POST",
                "/login-codes",
                Some(json!({"user_id": user, "userinfo": {"nickName": user}})),
            )
            .await?;
        if st != 201 {
            bail!("login code: {st} {body}");
        }
        Ok(body["code"].as_str().context("code")?.to_string())
    }

    /// Logs the user in through `/weapp/login`; returns the skey.
    pub async fn login(&self, user: &str) -> Result<String> {
        let code = self.login_code(user).await?;
        let (st, body) = self.weapp("/weapp/login", "X-WX-Code", &code).await?;
        if st != 200 {
            bail!("login: {st} {body}");
        }
        Ok(body["data"]["skey"].as_str().context("skey")?.to_string())
    }

    pub async fn weapp(&self, path: &str, header: &str, value: &str) -> Result<(u16, Value)> {
        let res = self
            .http
            .get(self.url(path))
            .header(header, value)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await?))
    }

    pub async fn push(&self, user: &str, event: &str, data: Value) -> Result<Value> {
        let (st, body) = self
            .api(
                "POST",
                &format!("/users/{user}/messages"),
                Some(json!({"event": event, "data": data})),
            )
            .await?;
        if st != 200 {
            bail!("push: {st} {body}");
        }
        Ok(body)
    }

    /// Asks `/weapp/tunnel` for a connect URL and opens it.
    pub async fn tunnel(&self, skey: &str) -> Result<Tunnel> {
        let (st, body) = self.weapp("/weapp/tunnel", "X-WX-Skey", skey).await?;
        if st != 200 {
            bail!("tunnel: {st} {body}");
        }
        let url = body["data"]["connectUrl"].as_str().context("connectUrl")?;
        let id = body["data"]["tunnelId"].as_str().context("tunnelId")?;
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Tunnel {
            id: id.to_string(),
            ws,
        })
    }
}

pub struct Tunnel {
    pub id: String,
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a tunnel client observes.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Text(String),
    Closed(Option<u16>),
}

impl Tunnel {
    pub async fn send(&mut self, text: &str) -> Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next text frame or close, skipping WebSocket-level pings and the `stream` packet
    /// (the personal stream's epoch, which Wafer clients ignore).
    pub async fn next(&mut self) -> Result<Seen> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {WAIT:?}"))?;
            match msg {
                Some(Ok(Message::Text(t))) if t.starts_with("stream:") => continue,
                Some(Ok(Message::Text(t))) => return Ok(Seen::Text(t.to_string())),
                Some(Ok(Message::Close(f))) => return Ok(Seen::Closed(f.map(|f| f.code.into()))),
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("socket error: {e}"),
                None => return Ok(Seen::Closed(None)),
            }
        }
    }

    pub async fn text(&mut self) -> Result<String> {
        match self.next().await? {
            Seen::Text(t) => Ok(t),
            other => bail!("expected a text frame, got {other:?}"),
        }
    }

    /// The next `message:` packet as `(type, content)`.
    pub async fn message(&mut self) -> Result<(String, Value)> {
        let t = self.text().await?;
        let body = t
            .strip_prefix("message:")
            .with_context(|| format!("not a message packet: {t}"))?;
        let v: Value = serde_json::from_str(body)?;
        Ok((
            v["type"].as_str().unwrap_or_default().to_string(),
            v["content"].clone(),
        ))
    }

    /// Round-trips a `ping`, proving everything sent before it has been read.
    pub async fn sync(&mut self) -> Result<()> {
        self.send("ping").await?;
        let t = self.text().await?;
        if t != "pong" {
            bail!("expected pong, got {t}");
        }
        Ok(())
    }

    /// The contents of the `message:` packets before a `ping` round trip ends.
    pub async fn messages_until_synced(&mut self) -> Result<Vec<Value>> {
        self.send("ping").await?;
        let mut got = Vec::new();
        loop {
            let text = self.text().await?;
            if text == "pong" {
                return Ok(got);
            }
            let body = text
                .strip_prefix("message:")
                .with_context(|| format!("not a message: {text}"))?;
            got.push(serde_json::from_str::<Value>(body)?["content"].clone());
        }
    }
}

/// A native-dialect client at `/connect`.
pub struct Native {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Frames read while waiting for something else, in order.
    pending: std::collections::VecDeque<String>,
}

impl TestRelay {
    pub async fn native(&self) -> Result<Native> {
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/connect", self.addr)).await?;
        Ok(Native {
            ws,
            next_id: 1,
            pending: Default::default(),
        })
    }

    /// Registers a user key through the API and connects with it.
    pub async fn native_user(&self, user: &str, device: &str) -> Result<(Native, Value)> {
        let key = format!("key-of-{user}");
        let (st, body) = self
            .api(
                "PUT",
                &format!("/users/{user}/key"),
                Some(json!({ "key": key })),
            )
            .await?;
        if st != 200 {
            bail!("put key: {st} {body}");
        }
        let mut n = self.native().await?;
        let reply = n
            .request(
                "auth",
                json!({"user_id": user, "user_key": key, "device": device}),
            )
            .await?;
        Ok((n, reply))
    }
}

impl From<WebSocketStream<MaybeTlsStream<TcpStream>>> for Native {
    fn from(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            ws,
            next_id: 1,
            pending: Default::default(),
        }
    }
}

impl Native {
    pub async fn send(&mut self, text: &str) -> Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next text frame (or `closed:<code>`).
    pub async fn frame(&mut self) -> Result<String> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        self.read_socket().await
    }

    async fn read_socket(&mut self) -> Result<String> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {WAIT:?}"))?;
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
                Some(Ok(Message::Close(f))) => {
                    return Ok(format!("closed:{}", f.map_or(0, |f| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("socket error: {e}"),
                None => return Ok("closed:0".into()),
            }
        }
    }

    /// Sends `kind:{..body, "id"}` and returns the reply's whole body (`result` or `error`);
    /// frames arriving before the reply are kept for [`Native::frame`].
    pub async fn request(&mut self, kind: &str, mut body: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = json!(id);
        self.send(&format!("{kind}:{body}")).await?;
        let mut early = Vec::new();
        loop {
            let f = match self.pending.pop_front() {
                Some(f) => f,
                None => self.frame().await?,
            };
            if let Some(r) = f.strip_prefix("reply:") {
                let v: Value = serde_json::from_str(r)?;
                if v["id"] == json!(id) {
                    self.pending.extend(early);
                    return Ok(v);
                }
            }
            if f.starts_with("closed:") {
                bail!("closed while waiting for reply {id}: {f}");
            }
            early.push(f);
        }
    }

    /// The next `pub:` packet.
    pub async fn publication(&mut self) -> Result<Value> {
        let f = self.frame().await?;
        let body = f
            .strip_prefix("pub:")
            .with_context(|| format!("expected a pub packet, got {f}"))?;
        Ok(serde_json::from_str(body)?)
    }

    /// Round-trips a `ping`: every frame queued for this client before it has arrived.
    pub async fn sync(&mut self) -> Result<()> {
        self.send("ping").await?;
        loop {
            let f = self.read_socket().await?;
            if f == "pong" {
                return Ok(());
            }
            self.pending.push_back(f);
            if self.pending.len() > 10_000 {
                bail!("no pong");
            }
        }
    }

    /// Frames received before the last `sync`, in order.
    pub fn drain(&mut self) -> Vec<String> {
        self.pending.drain(..).collect()
    }
}

impl TestRelay {
    /// Like [`TestRelay::start_with`], and hands back the relay's state to look inside (the
    /// hub's tables) while it serves.
    pub async fn start_exposed(
        tune: impl FnOnce(&mut Config),
    ) -> Result<(Self, cometa_relay::state::App)> {
        let dir = tempfile::tempdir()?;
        let mut cfg = Config::for_data_dir(dir.path());
        cfg.api_key = Some(KEY.into());
        cfg.static_dir = None;
        // Stopping a test relay closes its connections at once; the drain spread has its own
        // tests (drain.rs), which set a window.
        cfg.drain = Duration::ZERO;
        tune(&mut cfg);
        let relay = cometa_relay::Relay::open(cfg)?;
        let app = relay.app().clone();
        Ok((Self::serve(relay, dir).await?, app))
    }

    /// Serves an opened relay (e.g. one with another listener bound first) on port 0 until
    /// [`TestRelay::stop`]; `dir` (its data dir) lives as long as the handle.
    pub async fn serve(relay: cometa_relay::Relay, dir: tempfile::TempDir) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = relay.serve(listener, shutdown).await {
                eprintln!("relay failed: {e}");
            }
        });
        Ok(Self {
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: Some(dir),
        })
    }
}
