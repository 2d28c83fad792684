//! A connection's bounded outgoing queue, and the way to ask it to close.
//!
//! A mutex-guarded deque with one [`Notify`] rather than a tokio `mpsc` channel: the writer
//! takes everything queued in one swap (one lock per batch, not one per message), an idle
//! connection's queue allocates nothing (an `mpsc` channel allocates its first block of slots
//! up front), and the close request travels through the same wake-up.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::CloseCode;
use tokio::sync::Notify;

/// The id [`Outbound::Stream`] names a connection's own personal stream by; the hub's
/// channel ids start above it.
pub const PERSONAL: u64 = 0;

/// What the hub hands a connection's writer. Kept small: a queue of 1024 of them is what one
/// connection may hold.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A frame outside any stream (tunnel messages, broadcasts, join/leave, status).
    Frame(Utf8Bytes),
    /// A stored message of a stream, in the connection's dialect; the writer drops seqs of
    /// the stream it has already sent. The stream is named by an id — [`PERSONAL`], or the
    /// hub's interned channel id: no string hashing per message, and the frame is the only
    /// reference-counted handle a recipient touches.
    Stream { id: u64, seq: u64, frame: Utf8Bytes },
}

impl Outbound {
    /// The same message in bytes of its own. Every subscriber's clone and drop touches the
    /// frame's reference count; giving each fan-out worker its own copy keeps that cache line
    /// on one core instead of bouncing it between all of them for every delivery.
    pub fn detached(&self) -> Self {
        let copy = |f: &Utf8Bytes| Utf8Bytes::from(f.as_str().to_owned());
        match self {
            Self::Frame(f) => Self::Frame(copy(f)),
            Self::Stream { id, seq, frame } => Self::Stream {
                id: *id,
                seq: *seq,
                frame: copy(frame),
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Taken,
    /// The queue was full: the connection is being closed as a slow consumer.
    Full,
    Closed,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outbound>,
    /// 0 while open; the close code once a close was asked for.
    close: u16,
}

#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    cap: usize,
}

/// What the writer gets from [`Outbox::next`].
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Frames were moved into the caller's buffer.
    Frames,
    /// Close with this code (queued frames first, except for a slow consumer).
    Close(u16),
}

impl Outbox {
    pub fn new(cap: usize) -> Self {
        Self {
            state: Mutex::default(),
            notify: Notify::new(),
            cap,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The critical sections below cannot panic; recover rather than poison the relay.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn offer(&self, out: Outbound) -> Offer {
        let mut s = self.state();
        if s.close != 0 {
            return Offer::Closed;
        }
        if s.items.len() >= self.cap {
            s.close = CloseCode::SlowConsumer.code();
            s.items.clear();
            drop(s);
            self.notify.notify_one();
            return Offer::Full;
        }
        let was_empty = s.items.is_empty();
        s.items.push_back(out);
        drop(s);
        // The writer drains everything on each wake-up, so only the first frame of a batch
        // needs to wake it.
        if was_empty {
            self.notify.notify_one();
        }
        Offer::Taken
    }

    /// The first code wins; later calls are ignored.
    pub fn close(&self, code: CloseCode) {
        let mut s = self.state();
        if s.close == 0 {
            s.close = code.code();
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Waits for frames or a close. Frames are swapped into `buf` (which must be empty), so
    /// the two deques trade buffers instead of allocating.
    pub async fn next(&self, buf: &mut VecDeque<Outbound>) -> Next {
        loop {
            {
                let mut s = self.state();
                if !s.items.is_empty() {
                    std::mem::swap(buf, &mut s.items);
                    return Next::Frames;
                }
                if s.close != 0 {
                    return Next::Close(s.close);
                }
            }
            self.notify.notified().await;
        }
    }

    /// Frames waiting for the writer.
    pub fn queued(&self) -> usize {
        self.state().items.len()
    }

    /// Takes whatever is queued without waiting.
    pub fn take(&self, buf: &mut VecDeque<Outbound>) -> bool {
        let mut s = self.state();
        if s.items.is_empty() {
            return false;
        }
        std::mem::swap(buf, &mut s.items);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn f() -> Outbound {
        Outbound::Frame(Utf8Bytes::from_static("x"))
    }

    #[test]
    fn outbound_stays_small() {
        // 8 bytes more than a 32-bit channel id would take: ids are never reused, and 32 bits
        // of them run out in days under subscribe churn.
        assert!(std::mem::size_of::<Outbound>() <= 56);
    }

    #[tokio::test]
    async fn batches_then_close() {
        let o = Outbox::new(4);
        assert_eq!(o.offer(f()), Offer::Taken);
        assert_eq!(o.offer(f()), Offer::Taken);
        let mut buf = VecDeque::new();
        assert_eq!(o.next(&mut buf).await, Next::Frames);
        assert_eq!(buf.len(), 2);
        buf.clear();
        o.close(CloseCode::ClosedByServer);
        o.close(CloseCode::Shutdown);
        assert_eq!(o.offer(f()), Offer::Closed);
        assert_eq!(o.next(&mut buf).await, Next::Close(4501));
    }

    #[tokio::test]
    async fn overflow_closes_as_slow_consumer() {
        let o = Outbox::new(2);
        assert_eq!(o.offer(f()), Offer::Taken);
        assert_eq!(o.offer(f()), Offer::Taken);
        assert_eq!(o.offer(f()), Offer::Full);
        let mut buf = VecDeque::new();
        assert_eq!(
            o.next(&mut buf).await,
            Next::Close(4002),
            "dropped, not written"
        );
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken() {
        let o = Arc::new(Outbox::new(8));
        let o2 = o.clone();
        let writer = tokio::spawn(async move {
            let mut buf = VecDeque::new();
            o2.next(&mut buf).await
        });
        tokio::task::yield_now().await;
        o.offer(f());
        assert_eq!(writer.await.ok(), Some(Next::Frames));
    }
}
