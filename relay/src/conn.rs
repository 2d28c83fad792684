//! What every live connection shares, whatever its dialect: the socket with its stream
//! positions ([`Io`]) and the loop that pumps frames both ways ([`pump`]).
//!
//! The loop writes everything queued in one batch and one flush, sends WebSocket pings,
//! enforces the idle timeout and obeys close requests. Before it handles an inbound frame it
//! writes whatever was already queued, so a `ping` → `pong` round trip proves that earlier
//! pushes have been sent. The socket is not split: one task owns it, which saves the lock a
//! split socket takes on every read and write.

use std::time::Instant;

use std::collections::VecDeque;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use cometa_protocol::{CloseClass, CloseCode, packet};
use futures_util::SinkExt;

use crate::frames::Dialect;
use crate::outbox::{Next, Outbound, Outbox, PERSONAL};
use crate::state::App;
use crate::throttle::{FrameLimit, Verdict};

/// A drained batch buffer keeps at most this capacity between bursts.
const KEEP_BATCH_CAPACITY: usize = 64;

/// Where a device's personal-stream position is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// A Wafer tunnel's session.
    Session(i64),
    /// A native client's persistent device id.
    Device(String),
    /// Anonymous: no personal stream.
    None,
}

/// A connection's socket and what it has sent.
pub struct Io {
    pub app: App,
    pub socket: WebSocket,
    pub dialect: Dialect,
    pub user_id: Option<String>,
    pub cursor: Cursor,
    /// The personal stream's epoch this connection resumed in: a cursor is written only while
    /// it is still the stream's, so a confirmation arriving after the user was deleted and
    /// re-created cannot move the new history's cursor.
    pub epoch: Option<String>,
    /// Highest seq written per stream: [`PERSONAL`] and the subscribed channels by the hub's
    /// id. A connection has few streams: a scan beats hashing.
    positions: Vec<(u64, u64)>,
    /// Highest personal seq handed to the store as this device's cursor: anything at or
    /// below it (a repeated `ack`) costs no store write.
    pub cursor_at: u64,
    /// Highest personal seq a Wafer tunnel was sent a fence (a WebSocket Ping) for.
    fence_sent: u64,
    /// A write through [`Io::send`], [`Io::feed`] or [`Io::flush`] failed: something the
    /// client was owed is lost, so the connection closes instead of carrying on silently.
    write_failed: bool,
}

impl Io {
    pub fn new(app: App, socket: WebSocket, dialect: Dialect) -> Self {
        Self {
            app,
            socket,
            dialect,
            user_id: None,
            cursor: Cursor::None,
            epoch: None,
            positions: Vec::new(),
            cursor_at: 0,
            fence_sent: 0,
            write_failed: false,
        }
    }

    pub async fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), axum::Error> {
        let r = self.socket.send(Message::Text(text.into())).await;
        self.note(r)
    }

    pub async fn flush(&mut self) -> Result<(), axum::Error> {
        let r = SinkExt::flush(&mut self.socket).await;
        self.note(r)
    }

    pub async fn feed(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), axum::Error> {
        let r = self.socket.feed(Message::Text(text.into())).await;
        self.note(r)
    }

    /// Remembers a failed write, so that a caller that cannot act on it (a best-effort
    /// reply) still ends the connection: see [`dispatch`].
    fn note(&mut self, r: Result<(), axum::Error>) -> Result<(), axum::Error> {
        if let Err(e) = &r
            && !self.write_failed
        {
            tracing::debug!(error = %e, "write failed; closing");
            self.write_failed = true;
        }
        r
    }

    /// `error:{"code","message"}`; best effort, the connection stays open.
    pub async fn error_packet(&mut self, code: u16, message: &str) {
        let body = serde_json::json!({ "code": code, "message": message });
        let _ = self.send(format!("error:{body}")).await;
    }

    /// The highest seq of stream `id` written to this connection (0 when none).
    pub fn position(&self, id: u64) -> u64 {
        self.positions
            .iter()
            .find(|(s, _)| *s == id)
            .map_or(0, |(_, seq)| *seq)
    }

    /// Sets the position the writer resumes stream `id` from.
    pub fn set_position(&mut self, id: u64, seq: u64) {
        match self.positions.iter_mut().find(|(s, _)| *s == id) {
            Some((_, last)) => *last = seq,
            None => self.positions.push((id, seq)),
        }
    }

    pub fn forget(&mut self, id: u64) {
        self.positions.retain(|(s, _)| *s != id);
    }

    /// The personal stream resumes after `seq`, which the device's stored cursor already
    /// covers: nothing at or below it is written, fenced or recorded again.
    pub fn resume_after(&mut self, seq: u64) {
        self.set_position(PERSONAL, seq);
        self.cursor_at = seq;
        self.fence_sent = seq;
    }

    /// Moves a stream's position to `seq` if that is further; `false` for a seq already sent.
    fn advance(&mut self, id: u64, seq: u64) -> bool {
        let at = match self.positions.iter().position(|(s, _)| *s == id) {
            Some(at) => at,
            None => {
                self.positions.push((id, 0));
                self.positions.len() - 1
            }
        };
        let last = &mut self.positions[at].1;
        (seq > *last).then(|| *last = seq).is_some()
    }

    /// Records that the client *has* the personal stream up to `seq` (a native `ack`, or the
    /// Pong answering a Wafer tunnel's fence), if that is further than recorded before. A
    /// frame merely written may still sit in a socket buffer when the connection dies, so a
    /// write never moves the cursor.
    pub fn advance_cursor(&mut self, seq: u64) {
        let Some(user) = &self.user_id else { return };
        if seq <= self.cursor_at {
            return;
        }
        self.cursor_at = seq;
        let epoch = self.epoch.as_deref();
        match &self.cursor {
            Cursor::Session(id) => self.app.store.advance_cursor(*id, user, seq, epoch),
            Cursor::Device(d) => self.app.store.advance_device_cursor(d, user, seq, epoch),
            Cursor::None => {}
        }
    }

    /// Writes a batch of queued frames, dropping seqs already sent, then flushes once.
    pub async fn write_batch(&mut self, batch: &mut VecDeque<Outbound>) -> Result<(), axum::Error> {
        let mut personal = false;
        for out in batch.drain(..) {
            let frame = match out {
                Outbound::Frame(f) => Some(f),
                Outbound::Stream { id, seq, frame } => self.advance(id, seq).then(|| {
                    personal |= id == PERSONAL;
                    frame
                }),
            };
            if let Some(f) = frame {
                self.socket.feed(Message::Text(f)).await?;
            }
        }
        if batch.capacity() > KEEP_BATCH_CAPACITY {
            batch.shrink_to(KEEP_BATCH_CAPACITY);
        }
        if personal {
            self.fence().await?;
        }
        self.flush().await
    }

    /// On a Wafer tunnel, follows the personal frames written so far with a WebSocket Ping
    /// carrying the last seq: browsers and mini-program runtimes answer it with a Pong only
    /// once they have read everything before it, and that Pong ([`Io::fenced`]) moves the
    /// cursor. Native clients say so themselves with `ack`. Queued behind the frames, so it
    /// leaves in the same socket write when the caller flushes.
    pub async fn fence(&mut self) -> Result<(), axum::Error> {
        let last = self.position(PERSONAL);
        if self.dialect != Dialect::Wafer || last <= self.fence_sent {
            return Ok(());
        }
        self.fence_sent = last;
        let payload = last.to_string().into_bytes();
        let r = self.socket.feed(Message::Ping(payload.into())).await;
        self.note(r)
    }

    /// A Pong came back: when it answers one of our fences, the client has every personal
    /// frame up to the seq it carries. The keep-alive pings carry no payload.
    pub fn fenced(&mut self, payload: &[u8]) {
        if self.dialect != Dialect::Wafer {
            return;
        }
        let seq = std::str::from_utf8(payload)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(seq) = seq
            && seq <= self.fence_sent
        {
            self.advance_cursor(seq);
        }
    }

    /// Sends the close frame (after a `close` packet for terminal codes: Wafer's SDK
    /// reconnects after any socket close it did not ask for, unless it got that packet).
    pub async fn close(&mut self, code: CloseCode) {
        crate::metrics::closed(code.code());
        if code.class() == CloseClass::Terminal {
            let _ = self.feed(Utf8Bytes::from_static(packet::CLOSE)).await;
        }
        let frame = CloseFrame {
            code: code.code(),
            reason: Utf8Bytes::from_static(code.reason()),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
        let _ = SinkExt::close(&mut self.socket).await;
    }
}

/// Refuses an upgrade from a foreign page or past the connection limit; the slot it returns
/// counts the socket until dropped, authenticated or not.
pub fn admit(
    app: &App,
    headers: &axum::http::HeaderMap,
) -> Result<crate::capacity::SocketSlot, crate::error::ApiError> {
    use crate::error::ApiError;
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    if !origin_allowed(&app.config.allowed_origins, origin) {
        return Err(ApiError::Forbidden("origin not allowed".into()));
    }
    if app.is_draining() {
        return Err(ApiError::Unavailable("the relay is shutting down".into()));
    }
    app.sockets.try_open().ok_or_else(|| {
        tracing::warn!(
            limit = app.config.max_connections,
            "connection limit reached"
        );
        ApiError::Unavailable("the relay is at its connection limit".into())
    })
}

/// Socket settings of every connection: the frame limit, and small buffers — tungstenite's
/// 128 KiB default read buffer would dominate the memory of an idle connection. The write
/// buffer (`--ws-write-buffer-bytes`) is what a backlog is cut into socket writes by: each
/// write costs a system call and, on the receiving host, a packet's processing, which is most
/// of a delivery's cost at fan-out rates. The write buffer's cap holds two of the largest
/// replies the relay sends (a `history` page, which always carries at least one message
/// however large), so a reply is never refused for its size alone, and a frame on top of a
/// full write buffer.
pub fn configure(ws: WebSocketUpgrade, cfg: &crate::config::Config) -> WebSocketUpgrade {
    let max = cfg.max_frame_bytes;
    let reply = cfg
        .max_reply_bytes
        .max(max.max(cfg.max_body_bytes).saturating_add(4 * 1024));
    // tungstenite panics on a cap that does not exceed the write buffer: halved, even an
    // absurd setting leaves room for the cap above it.
    let write = cfg.ws_write_buffer_bytes.min(usize::MAX / 2);
    ws.read_buffer_size(2 * 1024)
        .write_buffer_size(write)
        .max_write_buffer_size(
            max.saturating_mul(4)
                .max(64 * 1024)
                .max(reply.saturating_mul(2))
                .max(write.saturating_add(max).saturating_add(1)),
        )
        .max_message_size(max)
        .max_frame_size(max)
}

/// A dialect's part in a connection: its inbound text frames, and what it tells the client
/// around registration (see [`crate::connection::serve`]).
pub trait Inbound {
    /// Registered, before the personal stream's replay: greets the client (the native `auth`
    /// reply) and says where the personal stream resumes — `None` from the device's cursor.
    fn started(
        &mut self,
        io: &mut Io,
    ) -> impl std::future::Future<Output = Result<Option<u64>, crate::store::StoreError>> + Send
    {
        let _ = io;
        std::future::ready(Ok(None))
    }

    /// The persistent device id `track_*` channels are told when this connection leaves them
    /// (a native page's `getUUID()`); empty when the dialect has none.
    fn device(&self) -> &str {
        ""
    }

    /// Refused at the device cap, before the close: tells the client why if it can.
    fn refused(&mut self, io: &mut Io) -> impl std::future::Future<Output = ()> + Send {
        let _ = io;
        std::future::ready(())
    }

    /// Handles one text frame; `Some(code)` ends the connection with that close.
    fn text(
        &mut self,
        io: &mut Io,
        text: Utf8Bytes,
    ) -> impl std::future::Future<Output = Option<CloseCode>> + Send;

    /// Refuses a frame whose JSON `body` was not read; by default with an `error` packet.
    fn refuse(
        &mut self,
        io: &mut Io,
        body: &str,
        message: &str,
    ) -> impl std::future::Future<Output = ()> + Send {
        let _ = body;
        io.error_packet(cometa_protocol::native::code::BAD_PACKET, message)
    }
}

/// Handles one inbound text frame: JSON nested deeper than `max-json-depth` is refused before
/// any parser sees it, and a write that failed while handling it closes the connection as a
/// slow consumer (reconnect class) rather than leaving the client without its answer.
pub async fn dispatch<H: Inbound + Send>(
    io: &mut Io,
    handler: &mut H,
    text: Utf8Bytes,
) -> Option<CloseCode> {
    let content = packet::Packet::parse(text.as_str()).content;
    let too_deep = content.and_then(|c| {
        cometa_protocol::depth::check(c.as_bytes(), io.app.config.max_json_depth).err()
    });
    let code = match too_deep {
        Some(e) => {
            handler
                .refuse(io, content.unwrap_or_default(), &e.to_string())
                .await;
            None
        }
        None => handler.text(io, text).await,
    };
    match code {
        None if io.write_failed => Some(CloseCode::SlowConsumer),
        code => code,
    }
}

/// Runs the connection until it ends; returns the close code.
pub async fn pump<H: Inbound + Send>(io: &mut Io, handler: &mut H, outbox: &Outbox) -> u16 {
    let cfg = io.app.config.clone();
    let mut ping = tokio::time::interval(cfg.ws_ping);
    ping.tick().await;
    let mut last_inbound = Instant::now();
    let mut limit = FrameLimit::new(cfg.frame_rate, cfg.frame_burst);
    let mut batch = VecDeque::new();
    loop {
        // A write that failed outside `dispatch`: a replay before the loop, an error packet.
        if io.write_failed {
            io.close(CloseCode::SlowConsumer).await;
            return CloseCode::SlowConsumer.code();
        }
        // Unbiased on purpose: under a steady stream of outbound frames a biased select
        // would stop reading, and the client's pings would go unanswered.
        tokio::select! {
            next = outbox.next(&mut batch) => match next {
                Next::Frames => {
                    if io.write_batch(&mut batch).await.is_err() {
                        return crate::metrics::closed(1006);
                    }
                }
                Next::Close(code) => {
                    let code = known_close(code);
                    io.close(code).await;
                    return code.code();
                }
            },
            inbound = io.socket.recv() => {
                last_inbound = Instant::now();
                let msg = match inbound {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "socket read failed");
                        io.close(CloseCode::Protocol).await;
                        return CloseCode::Protocol.code();
                    }
                    None => return crate::metrics::closed(1005),
                };
                if outbox.take(&mut batch) && io.write_batch(&mut batch).await.is_err() {
                    return crate::metrics::closed(1006);
                }
                if !matches!(msg, Message::Close(_)) {
                    match admit_frame(io, &mut limit).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(code) => {
                            io.close(code).await;
                            return code.code();
                        }
                    }
                }
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => {
                        // tungstenite queues the close reply itself; flushing sends it.
                        let _ = io.flush().await;
                        return crate::metrics::closed(CloseCode::Normal.code());
                    }
                    Message::Binary(_) => {
                        Box::pin(io.error_packet(
                            cometa_protocol::native::code::BINARY,
                            "binary frames are not supported",
                        ))
                        .await;
                        continue;
                    }
                    Message::Pong(p) => {
                        io.fenced(&p);
                        continue;
                    }
                    Message::Ping(_) => continue,
                };
                // Boxed: a request's handler is the largest future here, and inlined it would
                // grow every idle connection's task by its size.
                if let Some(code) = Box::pin(dispatch(io, handler, text)).await {
                    io.close(code).await;
                    return code.code();
                }
            }
            _ = ping.tick() => {
                if last_inbound.elapsed() > cfg.idle_timeout {
                    tracing::info!("no frame within the idle timeout");
                    io.close(CloseCode::NoPing).await;
                    return CloseCode::NoPing.code();
                }
                if io.socket.send(Message::Ping(Default::default())).await.is_err() {
                    return crate::metrics::closed(1006);
                }
            }
        }
    }
}

/// The inbound-frame limit: `Ok(false)` drops the frame (the first of a run is answered with
/// an `error:` packet), `Err` closes a connection that kept sending through the refusals.
async fn admit_frame(io: &mut Io, limit: &mut FrameLimit) -> Result<bool, CloseCode> {
    match limit.check() {
        Verdict::Handle => Ok(true),
        Verdict::Refuse { first } => {
            crate::metrics::rate_limited("frame");
            if first {
                let rate = io.app.config.frame_rate;
                let msg = format!("too many frames: at most {rate} a second; frame dropped");
                let code = cometa_protocol::native::code::LIMIT_EXCEEDED;
                Box::pin(io.error_packet(code, &msg)).await;
            }
            Ok(false)
        }
        Verdict::Close => {
            tracing::info!("inbound frame rate exceeded; closing");
            Err(CloseCode::RateLimited)
        }
    }
}

fn known_close(code: u16) -> CloseCode {
    CloseCode::from_code(code).unwrap_or(CloseCode::Shutdown)
}

/// At most `max` characters of `s`, for echoing client input in error messages.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Whether a WebSocket upgrade's `Origin` is allowed. Requests without one (native apps,
/// mini-programs, Node) are not browsers and carry no ambient credentials to protect.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(_) if allowed.is_empty() => true,
        Some(o) => allowed.iter().any(|a| a == o.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let list = vec!["https://a.example".to_string()];
        assert!(origin_allowed(&list, None));
        assert!(origin_allowed(&list, Some("https://a.example")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(origin_allowed(&[], Some("https://evil.example")));
    }
}
