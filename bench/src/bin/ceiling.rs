//! The ceiling: the least a WebSocket broadcast server can do on tokio-tungstenite — no auth,
//! no storage, no queue limits. What the relay achieves as a share of this is the cost of
//! everything it adds.
//!
//! - `GET /ws?user=<id>`: a WebSocket; text `ping` is answered with `pong`.
//! - `POST /publish`: the body goes verbatim, as one text frame, to every socket.
//! - `POST /publish/<id>`: the same, to the sockets of user `<id>`.
//!
//! Frames are encoded once and shared (`Utf8Bytes` clones are reference counts), and each
//! socket's writer flushes once per burst, the same I/O pattern the relay's tunnels use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Largest HTTP head and body accepted on `/publish`.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
/// Frames written before one flush.
const MAX_COALESCE: usize = 64;

#[derive(Default)]
struct Registry {
    sockets: HashMap<u64, mpsc::UnboundedSender<Utf8Bytes>>,
    users: HashMap<String, Vec<u64>>,
}

#[derive(Default)]
struct Hub {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
}

impl Hub {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, user: Option<&str>, frame: &Utf8Bytes) -> usize {
        let reg = self.registry();
        let send = |tx: &mpsc::UnboundedSender<Utf8Bytes>| tx.send(frame.clone()).is_ok();
        match user {
            None => reg.sockets.values().filter(|tx| send(tx)).count(),
            Some(u) => reg
                .users
                .get(u)
                .into_iter()
                .flatten()
                .filter_map(|id| reg.sockets.get(id))
                .filter(|tx| send(tx))
                .count(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = listen_arg()?;
    // A connect storm overflows tokio's default backlog (1024); take what the kernel allows
    // (net.core.somaxconn caps it), as the socket.io peer does.
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(4096)?;
    // scripts and the bench wait for this exact line.
    println!("ceiling listening on http://{}", listener.local_addr()?);
    let hub = Arc::new(Hub::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let hub = hub.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut first = [0u8; 4];
            // Peek (not read) so a WebSocket handshake still sees its whole request.
            let is_post = matches!(stream.peek(&mut first).await, Ok(4)) && &first == b"POST";
            if is_post {
                let _ = serve_http(stream, &hub).await;
            } else {
                serve_ws(stream, hub).await;
            }
        });
    }
}

fn listen_arg() -> anyhow::Result<SocketAddr> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--listen") {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--listen needs an address"))?
            .parse()?),
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
    }
}

// The handshake callback's error type is tungstenite's own (an HTTP response).
#[allow(clippy::result_large_err)]
async fn serve_ws(stream: TcpStream, hub: Arc<Hub>) {
    let mut user = None;
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024);
    let callback = |req: &Request, resp: Response| {
        user = req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("user="))
                .map(str::to_string)
        });
        Ok(resp)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut reg = hub.registry();
        reg.sockets.insert(id, tx);
        if let Some(u) = &user {
            reg.users.entry(u.clone()).or_default().push(id);
        }
    }
    loop {
        tokio::select! {
            inbound = ws.next() => match inbound {
                Some(Ok(Message::Text(t))) if t.as_str() == "ping" => {
                    if ws.send(Message::text("pong")).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some(frame) = rx.recv() => {
                let mut next = Some(frame);
                let mut written = 0;
                let mut failed = false;
                while let Some(f) = next.take() {
                    failed = ws.feed(Message::Text(f)).await.is_err();
                    written += 1;
                    if !failed && written < MAX_COALESCE {
                        next = rx.try_recv().ok();
                    }
                }
                if failed || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    let mut reg = hub.registry();
    reg.sockets.remove(&id);
    if let Some(u) = &user
        && let Some(ids) = reg.users.get_mut(u)
    {
        ids.retain(|&i| i != id);
        if ids.is_empty() {
            reg.users.remove(u);
        }
    }
}

/// A keep-alive HTTP/1.1 loop that understands exactly `POST /publish[/<user>]` with a
/// `Content-Length` body.
async fn serve_http(mut stream: TcpStream, hub: &Hub) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        if length > MAX_BODY {
            return Ok(());
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
        let (status, answer) = match (path.strip_prefix("/publish"), String::from_utf8(body)) {
            (Some(rest), Ok(text)) => {
                let user = rest.strip_prefix('/').filter(|u| !u.is_empty());
                let n = hub.publish(user, &Utf8Bytes::from(text));
                ("200 OK", format!("{{\"delivered\":{n}}}"))
            }
            (None, _) => ("404 Not Found", "{}".to_string()),
            (_, Err(_)) => ("400 Bad Request", "{}".to_string()),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(resp.as_bytes()).await?;
    }
}
