//! One simulated client socket: connect, the dialect's handshake, then a read loop that
//! stamps deliveries into the [`Recorder`] and answers the server's keep-alives.
//!
//! "Ready" means a full round trip through the server after the upgrade: the relay's `pong`
//! comes from the tunnel task once it is registered in the hub; socket.io's `40{sid}` comes
//! once the namespace connection (and its room joins) exist; the ceiling answers `ping` once
//! its connection is registered.
//!
//! The handshake goes through tokio-tungstenite; the read loop after it parses frames itself
//! (see [`crate::frame`]) into one read buffer per thread, because the generator shares the
//! cores with the server and must spend as little as it can per delivery.

use std::cell::RefCell;
use std::io;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::clock::now_us;
use crate::frame::{self, CLOSE, PING, PONG, TEXT};
use crate::net;
use crate::peer::Peer;
use crate::recorder::{Recorder, stamp};
use crate::target::Target;

type Ws = WebSocketStream<Tee>;

/// Room each read gets in its thread's buffer: one read takes in many deliveries (and so one
/// clock reading serves them all) without every socket owning a buffer this big.
const SCRATCH: usize = 64 * 1024;
/// A socket's carried-over bytes keep their allocation up to this size; a rare big frame
/// should not pin its memory on one of 20,000 sockets.
const KEEP_PARTIAL: usize = 4 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A socket past its handshake, ready for [`run`].
pub struct Opened {
    stream: TcpStream,
    /// Bytes read during the handshake past the ready reply (see [`unread`]).
    partial: Vec<u8>,
}

/// Connects to `url` from `from` and completes the dialect's handshake.
pub async fn open(
    target: &Target,
    url: &str,
    from: Ipv4Addr,
    timeout: Duration,
) -> anyhow::Result<Opened> {
    tokio::time::timeout(timeout, async {
        let tcp = net::connect(from, target.addr, timeout).await?;
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url, Tee::new(tcp), Some(net::ws_config()))
                .await
                .context("WebSocket handshake")?;
        let mut messages = 0;
        match target.peer {
            Peer::Cometa | Peer::Ceiling => {
                for frame in target.subscribe_frames() {
                    ws.send(Message::text(frame)).await?;
                }
                ws.send(Message::text("ping")).await?;
                wait_for(&mut ws, &mut messages, |t| t == "pong").await?;
            }
            Peer::Socketio => {
                // engine.io v4: `0{sid,...}` open, then `40` connects the main namespace.
                wait_for(&mut ws, &mut messages, |t| t.starts_with('0')).await?;
                ws.send(Message::text("40")).await?;
                wait_for(&mut ws, &mut messages, |t| t.starts_with("40")).await?;
            }
        }
        unread(ws.into_inner(), messages)
    })
    .await
    .context("connect timed out")?
}

/// Reads until `done` accepts a text; `messages` counts every message taken off the socket.
async fn wait_for(
    ws: &mut Ws,
    messages: &mut usize,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    while let Some(msg) = ws.next().await {
        *messages += 1;
        if let Message::Text(t) = msg? {
            if done(t.as_str()) {
                return Ok(());
            }
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await?;
            }
        }
    }
    bail!("closed during the handshake")
}

/// The socket back from tungstenite, with whatever tungstenite had read but not returned.
///
/// tungstenite reads in chunks and keeps bytes past the last message it returned in a buffer
/// it does not expose, and servers may well send right after the ready reply (a publish that
/// raced a refill, an engine.io ping). The [`Tee`] kept a copy of every byte read, so skipping
/// the HTTP response and the `messages` tungstenite returned leaves exactly those bytes.
fn unread(tee: Tee, messages: usize) -> anyhow::Result<Opened> {
    let at = past(&tee.read, messages)?;
    Ok(Opened {
        partial: tee.read[at..].to_vec(),
        stream: tee.inner,
    })
}

/// Where the bytes after the HTTP response and the first `messages` messages start.
fn past(read: &[u8], messages: usize) -> anyhow::Result<usize> {
    let mut at = read
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the HTTP response in the bytes read")?
        + 4;
    let mut left = messages;
    while left > 0 {
        let (f, n) = frame::parse(&read[at..])?
            .context("a message tungstenite returned is not in the bytes read")?;
        at += n;
        // tungstenite returns every control frame (always final) and each data message at
        // its final frame.
        if f.fin {
            left -= 1;
        }
    }
    Ok(at)
}

/// Reads until the server closes the socket or the task is aborted.
pub async fn run(conn: Opened, recorder: Arc<Recorder>) {
    let _ = serve(conn, &recorder).await;
    recorder.closed.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    More,
    End,
}

async fn serve(conn: Opened, recorder: &Recorder) -> io::Result<()> {
    let Opened {
        mut stream,
        mut partial,
    } = conn;
    let mut replies = Vec::new();
    let (used, mut flow) = handle(&partial, now_us(), recorder, &mut replies).map_err(invalid)?;
    partial.drain(..used);
    loop {
        if !replies.is_empty() {
            stream.write_all(&replies).await?;
            replies.clear();
        }
        if flow == Flow::End {
            return Ok(());
        }
        stream.readable().await?;
        // The buffer is borrowed only for this synchronous part, never across an await.
        let got = SCRATCH_BUF.with_borrow_mut(|scratch| {
            receive(
                scratch,
                &mut partial,
                |buf| stream.try_read(buf),
                recorder,
                &mut replies,
            )
        });
        flow = match got {
            Ok(f) => f,
            // Readiness was spurious; tokio cleared it, so the next wait is a real one.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Flow::More,
            Err(e) => return Err(e),
        };
    }
}

/// One read: `read` fills `scratch` after the carried-over `partial`, every whole frame is
/// handled with one receipt time, and the start of an incomplete one is carried over again.
fn receive(
    scratch: &mut Vec<u8>,
    partial: &mut Vec<u8>,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    recorder: &Recorder,
    replies: &mut Vec<u8>,
) -> io::Result<Flow> {
    let keep = partial.len();
    // Every read gets the full room after a carried-over start, so a big frame takes a few
    // reads, not one per few KiB each copying all that came before.
    if scratch.len() < keep + SCRATCH {
        scratch.resize(keep + SCRATCH, 0);
    }
    scratch[..keep].copy_from_slice(partial);
    let n = read(&mut scratch[keep..])?;
    if n == 0 {
        return Ok(Flow::End);
    }
    let filled = &scratch[..keep + n];
    let (used, flow) = handle(filled, now_us(), recorder, replies).map_err(invalid)?;
    partial.clear();
    if partial.capacity() > KEEP_PARTIAL {
        partial.shrink_to(KEEP_PARTIAL);
    }
    partial.extend_from_slice(&filled[used..]);
    Ok(flow)
}

/// Handles the whole frames at the start of `buf`, all received at `now`; returns the bytes
/// they took and whether the socket goes on.
fn handle(
    buf: &[u8],
    now: u64,
    recorder: &Recorder,
    replies: &mut Vec<u8>,
) -> Result<(usize, Flow), frame::Bad> {
    let mut at = 0;
    while let Some((f, n)) = frame::parse(&buf[at..])? {
        at += n;
        match f.opcode {
            TEXT if f.fin => match f.payload {
                // engine.io ping: the server drops us without the `3`.
                b"2" => frame::encode(replies, TEXT, b"3"),
                b"ping" => frame::encode(replies, TEXT, b"pong"),
                text => {
                    let stamped = std::str::from_utf8(text).ok().and_then(stamp);
                    if let Some((step, sent)) = stamped {
                        recorder.record(step, sent, now);
                    }
                }
            },
            PING => frame::encode(replies, PONG, f.payload),
            CLOSE => {
                // Echo the status code, as RFC 6455 §5.5.1 asks.
                frame::encode(replies, CLOSE, f.payload.get(..2).unwrap_or_default());
                return Ok((at, Flow::End));
            }
            // Fragmented texts, binaries and pongs: no server sends them to the bench, and
            // skipping whole frames keeps the parser in step.
            _ => {}
        }
    }
    Ok((at, Flow::More))
}

fn invalid(e: frame::Bad) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The TCP stream under tungstenite during the handshake, keeping a copy of every byte read
/// (a few hundred) so [`unread`] can recover what tungstenite buffered.
struct Tee {
    inner: TcpStream,
    read: Vec<u8>,
}

impl Tee {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            read: Vec::new(),
        }
    }
}

impl AsyncRead for Tee {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.read.extend_from_slice(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tee {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::{CONTINUATION, server_frame};
    use crate::recorder::content;

    /// Feeds `wire` to [`receive`] in pieces of at most `sizes` (cycled) and at most the room
    /// offered, like reads would return it.
    fn feed(wire: &[u8], sizes: &[usize], rec: &Recorder) -> (Vec<u8>, Flow, Vec<u8>) {
        let (mut scratch, mut partial, mut replies) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0;
        let mut flow = Flow::More;
        for &size in sizes.iter().cycle() {
            if at == wire.len() || flow == Flow::End {
                break;
            }
            let rest = &wire[at..];
            let mut n = 0;
            flow = receive(
                &mut scratch,
                &mut partial,
                |buf| {
                    n = size.min(rest.len()).min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    Ok(n)
                },
                rec,
                &mut replies,
            )
            .expect("valid stream");
            at += n;
        }
        (replies, flow, partial)
    }

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::encode(&mut out, opcode, payload);
        out
    }

    #[test]
    fn frames_split_across_reads() {
        let mut wire = Vec::new();
        for i in 0..50 {
            let text = format!("42[\"bench\",{}]", content(1, i, 5, &"x".repeat(200)));
            wire.extend(server_frame(true, TEXT, text.as_bytes()));
        }
        for sizes in [&[1][..], &[3, 7], &[wire.len()], &[250, 1, 64]] {
            let rec = Recorder::default();
            let (replies, flow, partial) = feed(&wire, sizes, &rec);
            assert_eq!(rec.received(1), 50, "pieces {sizes:?}");
            assert!(replies.is_empty());
            assert_eq!(flow, Flow::More);
            assert!(partial.is_empty());
        }
    }

    #[test]
    fn a_frame_bigger_than_the_buffer() {
        let text = content(5, 0, 1, &"z".repeat(300_000));
        let mut wire = server_frame(true, TEXT, text.as_bytes());
        wire.extend(server_frame(true, TEXT, content(5, 1, 1, "").as_bytes()));
        let rec = Recorder::default();
        let (_, flow, partial) = feed(&wire, &[SCRATCH + 1000], &rec);
        assert_eq!((rec.received(5), flow), (2, Flow::More));
        assert!(partial.capacity() <= KEEP_PARTIAL);
    }

    #[test]
    fn answers_keep_alives_and_stops_at_close() {
        let mut wire = server_frame(true, TEXT, b"2");
        wire.extend(server_frame(true, TEXT, b"ping"));
        wire.extend(server_frame(true, PING, b"hi"));
        let long = format!("message:{}", content(2, 0, 5, &"y".repeat(300)));
        wire.extend(server_frame(true, TEXT, long.as_bytes()));
        wire.extend(server_frame(true, CLOSE, &1001u16.to_be_bytes()));
        wire.extend(server_frame(true, TEXT, b"after the close"));
        let rec = Recorder::default();
        let (replies, flow, _) = feed(&wire, &[5], &rec);
        let mut want = masked(TEXT, b"3");
        want.extend(masked(TEXT, b"pong"));
        want.extend(masked(PONG, b"hi"));
        want.extend(masked(CLOSE, &1001u16.to_be_bytes()));
        assert_eq!(replies, want);
        assert_eq!(flow, Flow::End);
        assert_eq!(rec.received(2), 1, "the 16-bit-length text counts");
    }

    #[test]
    fn fragments_are_skipped_without_losing_step() {
        let mut wire = server_frame(false, TEXT, b"{\"s\":1,");
        wire.extend(server_frame(true, CONTINUATION, b"\"i\":0,\"t\":5}"));
        wire.extend(server_frame(true, TEXT, content(1, 1, 5, "").as_bytes()));
        let rec = Recorder::default();
        feed(&wire, &[4], &rec);
        assert_eq!(rec.received(1), 1);
    }

    #[test]
    fn end_of_stream_and_garbage_end_the_socket() {
        let rec = Recorder::default();
        let (mut scratch, mut partial, mut replies) = (Vec::new(), Vec::new(), Vec::new());
        let eof = receive(&mut scratch, &mut partial, |_| Ok(0), &rec, &mut replies);
        assert_eq!(eof.ok(), Some(Flow::End));
        let masked_text = masked(TEXT, b"x");
        let bad = receive(
            &mut scratch,
            &mut partial,
            |buf| {
                buf[..masked_text.len()].copy_from_slice(&masked_text);
                Ok(masked_text.len())
            },
            &rec,
            &mut replies,
        );
        assert_eq!(bad.map_err(|e| e.kind()), Err(io::ErrorKind::InvalidData));
    }

    #[test]
    fn past_skips_the_response_and_the_returned_messages() {
        let mut read = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        read.extend(server_frame(true, PING, b""));
        read.extend(server_frame(false, TEXT, b"po"));
        read.extend(server_frame(true, CONTINUATION, b"ng"));
        let returned = read.len();
        read.extend(&server_frame(true, TEXT, b"next")[..3]);
        // Two messages returned: the ping and the reassembled `pong`.
        assert_eq!(past(&read, 2).ok(), Some(returned));
        assert!(past(&read, 3).is_err(), "a third message is not all there");
        assert!(past(b"HTTP/1.1 101", 0).is_err());
    }

    /// A server that sends a delivery in the same write as the ready reply: tungstenite reads
    /// both at once, and the delivery must still reach the read loop.
    #[tokio::test]
    async fn a_delivery_right_after_the_ready_reply_is_kept() {
        use crate::peer::FanoutVia;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
            while let Some(Ok(msg)) = ws.next().await {
                if msg.to_text().ok() == Some("ping") {
                    break;
                }
            }
            ws.feed(Message::text("pong")).await.expect("feed");
            ws.feed(Message::text(content(4, 0, 1, "")))
                .await
                .expect("feed");
            ws.flush().await.expect("flush");
            ws.close(None).await.expect("close");
            // Wait for the client's close reply so the socket ends cleanly.
            while ws.next().await.is_some() {}
        });
        let http = crate::target::http_client(1, None).expect("http client");
        let target = Target::at(Peer::Ceiling, addr, FanoutVia::Broadcast, http);
        let url = format!("ws://{addr}/ws?user=u");
        let from = std::net::Ipv4Addr::LOCALHOST;
        let opened = open(&target, &url, from, Duration::from_secs(5))
            .await
            .expect("open");
        let rec = Arc::new(Recorder::default());
        tokio::time::timeout(Duration::from_secs(5), run(opened, rec.clone()))
            .await
            .expect("the close ends the loop");
        assert_eq!(rec.received(4), 1);
        assert_eq!(rec.closed(), 1);
        server.await.expect("server");
    }
}
