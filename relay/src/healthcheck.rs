//! `cometa-relay healthcheck`: asks the relay on the configured listen address for `/healthz`
//! and exits 0 or 1. It is the container image's `HEALTHCHECK`, where a scratch image has no
//! curl, so it speaks just enough HTTP/1.1 over a plain TCP socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Docker's and Podman's default health-check timeout is 30 s; a live relay answers in
/// milliseconds, so anything slower is reported as unhealthy well before.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The status line and headers of `/healthz`'s answer fit in far less.
const MAX_ANSWER_BYTES: u64 = 4096;

/// Where to reach a relay listening on `listen`: a wildcard address is reached on loopback.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `Ok` when `GET /healthz` on `listen` answers 200 in time; otherwise why not.
pub async fn probe(listen: SocketAddr) -> Result<(), String> {
    let addr = target(listen);
    let answer = tokio::time::timeout(PROBE_TIMEOUT, get_healthz(addr))
        .await
        .map_err(|_| format!("no answer from {addr} within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let status = answer.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!("{addr} answered {status:?}"))
    }
}

async fn get_healthz(addr: SocketAddr) -> std::io::Result<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tcp.take(MAX_ANSWER_BYTES).read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
