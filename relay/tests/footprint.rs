//! What an idle connection costs: its task is one future holding the socket, its stream
//! positions and the state of the frame pump. Anything that runs only once or rarely (the
//! login, the replay, a request's handler) is boxed outside it, and nothing is held twice;
//! per-connection timers are gone too (one expiry task serves every session).

mod common;

use std::sync::atomic::Ordering;

use anyhow::Result;
use cometa_relay::test_hooks::{NATIVE_FUTURE_BYTES, TUNNEL_FUTURE_BYTES, io_bytes};
use common::TestRelay;

/// What a connection's future may hold besides its `Io`: the pump's state, the hub handle,
/// the ticket or identity. Holding the socket a second time, or a login's or a request's
/// future inline, goes past it.
const BUDGET: usize = 2048;

#[tokio::test]
async fn an_idle_connection_holds_its_socket_once_and_little_else() -> Result<()> {
    let r = TestRelay::start().await?;
    let skey = r.login("idle").await?;
    let mut t = r.tunnel(&skey).await?;
    t.sync().await?;
    let (mut n, _) = r.native_user("idle", "d1").await?;
    n.sync().await?;
    let io = io_bytes();
    for (dialect, bytes) in [
        ("tunnel", TUNNEL_FUTURE_BYTES.load(Ordering::Relaxed)),
        ("native", NATIVE_FUTURE_BYTES.load(Ordering::Relaxed)),
    ] {
        eprintln!("{dialect}: future {bytes} bytes, io {io} bytes");
        assert!(bytes > io, "{dialect}: the hook saw no connection");
        assert!(
            bytes <= io + BUDGET,
            "{dialect}: a connection's future takes {bytes} bytes, more than its io ({io}) + {BUDGET}"
        );
    }
    r.stop().await
}
