//! Client sockets: source-address rotation, the WebSocket config, and the open-files limit.
//!
//! Linux picks an ephemeral port per (source address, port) pair, so one source address holds
//! at most ~28k client sockets, and sockets a previous run closed linger in TIME_WAIT on it.
//! Every fleet therefore takes fresh source addresses from 127.0.0.2 upwards, at most
//! [`PER_SOURCE`] sockets each.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Client sockets bound to one source address at most.
pub const PER_SOURCE: usize = 10_000;

/// Index of the next unused source address (see [`source_addr`]).
static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// 127.0.A.B with B in 2..=254: 127.0.0.1 is left to the servers, .0 and .255 are avoided.
fn source_addr(index: u32) -> anyhow::Result<Ipv4Addr> {
    let (a, b) = (index / 253, index % 253 + 2);
    let a = u8::try_from(a).context("ran out of loopback source addresses")?;
    Ok(Ipv4Addr::new(127, 0, a, u8::try_from(b)?))
}

/// Fresh source addresses, enough for `sockets` client sockets.
pub fn take_sources(sockets: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
    let n = u32::try_from(sockets.div_ceil(PER_SOURCE).max(1))?;
    let first = NEXT_SOURCE.fetch_add(n, Ordering::Relaxed);
    (first..first + n).map(source_addr).collect()
}

/// A TCP connection to `to` from `from` (port chosen by the kernel).
pub async fn connect(
    from: Ipv4Addr,
    to: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Lets the kernel reuse ports whose previous connection sits in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket
        .bind(SocketAddr::new(from.into(), 0))
        .with_context(|| format!("bind {from}"))?;
    tokio::time::timeout(timeout, socket.connect(to))
        .await
        .context("connect timed out")?
        .with_context(|| format!("connect {to} from {from}"))
}

/// Small buffers, like the relay's: tungstenite's 128 KiB default read buffer would make the
/// generator, not the server, run out of memory at 20k connections.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Raises this process's open-files limit as far as allowed; children (the peers) inherit it.
/// Returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    // Asking for more than the hard limit only works with CAP_SYS_RESOURCE; try, then fall
    // back to the hard limit.
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, 1 << 20, 1 << 20);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
    }
}
