//! What the relay-level fuzz targets share: one relay per fuzzing process, started on first
//! use on a loopback port with a throw-away data directory, and a minimal blocking HTTP
//! client (one request per connection, so a response is everything up to EOF).
//!
//! The relay runs in this process: libFuzzer's panic hook aborts on a panic in any thread, so
//! a panicking handler or connection task is reported as a crash with its input.

#![cfg(feature = "relay")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The API key of the fuzzing relay.
pub const API_KEY: &str = "cometa-fuzz-api-key-0123456789";
/// A user with a key, so inputs can authenticate (`user_id` + `user_key`).
pub const USER: &str = "fz";
pub const USER_KEY: &str = "fuzz-key";
/// Every wait on the relay is bounded by this; a hang is reported as a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// The relay of this process.
pub fn relay() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(start)
}

fn start() -> SocketAddr {
    let dir = data_dir();
    let listener = StdListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("nonblocking: {e}"));
    let mut cfg = cometa_relay::Config::for_data_dir(&dir);
    cfg.api_key = Some(API_KEY.into());
    cfg.static_dir = None;
    cfg.anonymous = true;
    // No fsync per commit: fuzzing is about what the relay does with input, not power loss.
    cfg.durability = cometa_relay::config::Durability::Normal;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .unwrap_or_else(|e| panic!("listener: {e}"));
            if let Err(e) = cometa_relay::run(listener, cfg, std::future::pending()).await {
                panic!("relay stopped: {e}");
            }
        });
    });
    let (status, body) = request(
        addr,
        "PUT",
        &format!("/api/v1/users/{USER}/key"),
        format!("{{\"key\":\"{USER_KEY}\"}}").as_bytes(),
    );
    assert!(
        status < 300,
        "setting the fuzz user's key: {status} {body:?}"
    );
    addr
}

/// A fresh directory per process; those of fuzzing processes that are gone are removed.
fn data_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("cometa-fuzz-")) else {
                continue;
            };
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("cometa-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("data dir: {e}"));
    dir
}

/// One HTTP/1.1 request with the API key; returns the status and the body.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(WAIT))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    // The relay may answer (413, 400) and close before reading the whole body.
    let _ = s.write_all(&req);
    let mut resp = Vec::new();
    if let Err(e) = s.read_to_end(&mut resp) {
        assert!(
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
            "{method} {path}: no answer within {WAIT:?}"
        );
    }
    parse_response(&resp).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&resp[..resp.len().min(200)])
        )
    })
}

fn parse_response(resp: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&resp[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut body = resp[end + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    }
    Some((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).ok()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// `s` as one path segment: everything but unreserved characters percent-encoded.
pub fn segment(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A TCP stream that retries reads and writes cut short by a signal: libFuzzer's timer
/// (`-timeout`) interrupts blocking calls, and tungstenite hands `EINTR` up as an error.
pub struct Retry(pub TcpStream);

impl Read for Retry {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Write for Retry {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
