//! The accept loop, in place of `axum::serve` (which has no timeouts): hyper's HTTP/1 server
//! with a header-read timeout, a deadline per request, a cap on open connections per client
//! address, TCP_NODELAY, `ConnectInfo<SocketAddr>` for the handlers and graceful shutdown.
//!
//! hyper times the wait for a request's headers from the moment it starts waiting for them —
//! on a new connection, and on a kept-alive one as soon as the previous response is written —
//! so the one timeout bounds both a half-sent request (slowloris) and an idle keep-alive
//! connection. Upgraded WebSockets leave hyper at the upgrade; their own liveness rules
//! (`--handshake-timeout-secs`, `--idle-timeout-secs`) take over.
//!
//! hyper has no timeout on reading a request's body, so a client could trickle one byte at a
//! time; each request gets a deadline for its answer (reading the body is part of making it)
//! and a late one gets 408.
//!
//! Per connection this does what `axum::serve` did — one task, one service clone, the
//! `ConnectInfo` extension per request — plus one lookup in the per-address table.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use cometa_protocol::api::ErrorBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

use crate::capacity::{AddressPermit, PerAddress};

/// How long a connection may take to finish its request once shutdown began: hyper closes an
/// idle connection at once, but one still sending a request would otherwise hold shutdown up.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The HTTP timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's headers, and for the next request on a kept-alive connection.
    pub header: Duration,
    /// From a request's headers to its answer's.
    pub request: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish and returns when every HTTP connection has ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    per_address: Arc<PerAddress>,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let header_timeout = timeouts.header;
    let request_timeout = timeouts.request;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // Receivers dropped = shutdown signalled; senders dropped = connection tasks done.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        // Over the cap: the stream is dropped here, which closes it at once.
        let Some(permit) = per_address.try_open(peer.ip()) else {
            tracing::debug!("connection refused: too many open from one address");
            continue;
        };
        // Without TCP_NODELAY a small frame written after another whose ACK is still delayed
        // waits for that ACK: 40 ms on Linux, which was the relay's whole latency tail.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
        });
        let router = router.clone();
        let service = service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let answer = router.clone().call(req);
            async move {
                match tokio::time::timeout(request_timeout, answer).await {
                    Ok(res) => res,
                    Err(_) => Ok(too_slow(request_timeout)),
                }
            }
        });
        let conn = http.serve_connection(io, service).with_upgrades();
        let signal_tx = signal_tx.clone();
        let done_rx = done_rx.clone();
        tokio::spawn(async move {
            let mut conn = pin!(conn);
            let grace = tokio::time::sleep(Duration::MAX);
            let mut grace = pin!(grace);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = signal_tx.closed(), if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                        grace.as_mut().reset(tokio::time::Instant::now() + DRAIN_GRACE);
                    }
                    () = grace.as_mut(), if draining => break,
                }
            }
            drop(done_rx);
        });
    }
    drop(done_rx);
    drop(listener);
    done_tx.closed().await;
}

/// 408 for a request not answered within its deadline (in practice: a body sent too slowly).
fn too_slow(limit: Duration) -> Response {
    tracing::debug!("request timed out");
    let body = ErrorBody {
        code: 408,
        error: "ERR_REQUEST_TIMEOUT".into(),
        message: format!(
            "the request was not complete within {} s",
            limit.as_secs_f64()
        ),
    };
    let mut res = (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Out of file descriptors and the like: wait a moment rather than spin on `accept`.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A TCP stream that holds its address's permit for as long as it is open — through an
/// upgrade too, since the upgraded WebSocket owns this stream.
struct Counted {
    tcp: TcpStream,
    _permit: AddressPermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
