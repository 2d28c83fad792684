//! [`Session`]: one native-dialect connection's life, reconnects included.
//!
//! On every socket: `auth` first (with the personal stream's position as `since`), then a
//! `subscribe` per channel (with its position), then whatever was queued while offline. The
//! relay handles frames in order, so nothing waits for the `auth` reply. The lifecycle is the
//! shared [`Link`] (no fetch step: the socket opens straight away). Liveness: the relay pings
//! with WebSocket control frames, which pages answer without seeing them, so the session also
//! sends `ping` packets and gives a connection up when nothing at all came back in time.

use cometa_protocol::native::{self, PERSONAL};
use cometa_protocol::packet::{self, Packet, PacketType};

use super::wire::Body;
use super::{Credentials, ERR_STOPPED, Failure, Output, Position, State};
use crate::config::TunnelConfig;
use crate::event::ERR_RECONNECT;
use crate::json::with_number;
use crate::link::{Closed, Due, Frame, Link, Retry};
use crate::queue::Queue;
use crate::resend::Resend;

mod durable;
mod inbound;
mod requests;

/// One stream's bookkeeping.
#[derive(Debug, Default)]
struct Stream {
    position: Option<Position>,
    /// `since` went out with this connection's subscribe/auth.
    since_sent: bool,
    /// This connection's reply came: the position's epoch is the stream's current one, so
    /// seqs can be compared with it.
    confirmed: bool,
}

/// A request waiting for its reply.
#[derive(Debug)]
enum Pending {
    Auth,
    Subscribe(String),
    Unsubscribe,
    Publish {
        channel: String,
        event: String,
    },
    /// Reads are idempotent: re-sent on the next connection if this one is lost.
    Query(String),
}

/// See the module documentation.
#[derive(Debug)]
pub struct Session {
    /// Closed until `start` and once stopped for good; whether it connected since `start`
    /// decides the one `Connected` output.
    link: Link,
    creds: Option<Credentials>,
    device: String,
    authorized: bool,
    personal: Stream,
    channels: Vec<(String, Stream)>,
    next_id: u64,
    pending: Vec<(u64, Pending)>,
    /// Requests made while not connected: id, what it is, the frame.
    outbox: Queue<(u64, Pending, String)>,
    /// A durable session's unanswered publishes (see [`durable`]) with their channel and
    /// event; they skip the outbox.
    resend: Resend<(String, String)>,
    /// When kept publishes the relay refused for its publish rate (4006) go again on this
    /// socket (see [`durable`]).
    resend_at: Option<u64>,
    /// The wait before the last resend of kept publishes refused for the rate (0: none
    /// refused since a publish was accepted); each round refused in a row doubles it, as the
    /// link's reconnect backoff does.
    refused_wait: u64,
    out: Queue<Output>,
    /// What the page was last told (see [`State`]).
    state: State,
}

impl Session {
    /// `config` is the tunnel's (backoff, ping, connect timeout, outbox bound); `seed` feeds
    /// the backoff jitter and should differ per page.
    pub fn new(config: TunnelConfig, seed: u64) -> Self {
        Self {
            link: Link::new(config, seed, false),
            creds: None,
            device: String::new(),
            authorized: false,
            personal: Stream::default(),
            channels: Vec::new(),
            next_id: 1,
            pending: Vec::new(),
            outbox: Queue::default(),
            resend: Resend::new(native::PUBLISH),
            resend_at: None,
            refused_wait: 0,
            out: Queue::default(),
            state: State::Disconnected,
        }
    }

    /// Connects (again, if running) as `creds` (`None`: anonymous) from `device`, resuming
    /// the personal stream after `personal`. Channel positions are kept; the host replaces
    /// them with [`Session::set_position`] when the user changed.
    pub fn start(
        &mut self,
        now_ms: u64,
        creds: Option<Credentials>,
        device: String,
        personal: Option<Position>,
    ) {
        // Running: the current socket goes (nothing is pending or open otherwise).
        self.drop_socket();
        self.link.shut();
        self.creds = creds;
        self.device = device;
        self.personal.position = personal;
        self.set_state(State::Connecting, 0, "start");
        self.link.start(now_ms);
        self.open();
    }

    /// Closes the connection and stays closed. Subscriptions and positions are kept for the
    /// next `start`; requests queued or in flight fail with [`super::ERR_STOPPED`], so every
    /// callback waiting on one is settled.
    pub fn stop(&mut self, _now_ms: u64) {
        if self.link.is_open() {
            self.out.push_back(Output::Send(packet::CLOSE.to_owned()));
        }
        self.drop_socket();
        self.fail_pending(ERR_STOPPED, "stopped");
        self.link.shut();
        self.set_state(State::Disconnected, 0, "stopped");
    }

    pub fn is_started(&self) -> bool {
        !self.link.is_closed()
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_open()
    }

    /// The number of the current connection attempt, new with every [`Output::Open`]. A host
    /// may tag its socket's callbacks with it and drop those of an older socket.
    pub fn socket_generation(&self) -> u32 {
        self.link.generation()
    }

    /// The last `auth` on this connection succeeded.
    pub fn is_authorized(&self) -> bool {
        self.authorized
    }

    /// Channels subscribed to (the personal stream is implicit).
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        self.channels.iter().map(|(c, _)| c.as_str())
    }

    /// Replaces a stream's remembered position (`msg`: the personal stream).
    pub fn set_position(&mut self, stream: &str, position: Option<Position>) {
        if let Some(s) = self.stream_mut(stream) {
            s.position = position;
        }
    }

    pub fn position(&self, stream: &str) -> Option<&Position> {
        if stream == PERSONAL {
            return self.personal.position.as_ref();
        }
        let (_, s) = self.channels.iter().find(|(c, _)| c == stream)?;
        s.position.as_ref()
    }

    /// Subscribes to `channel`, resuming after `position` (the host's stored one). A second
    /// subscribe to the same channel does nothing.
    pub fn subscribe(&mut self, _now_ms: u64, channel: &str, position: Option<Position>) {
        if channel == PERSONAL || self.channels.iter().any(|(c, _)| c == channel) {
            return;
        }
        self.channels.push((
            channel.to_owned(),
            Stream {
                position,
                ..Stream::default()
            },
        ));
        if self.is_connected() {
            self.send_subscribe(self.channels.len() - 1);
        }
    }

    pub fn unsubscribe(&mut self, _now_ms: u64, channel: &str) {
        let before = self.channels.len();
        self.channels.retain(|(c, _)| c != channel);
        if self.channels.len() != before && self.is_connected() {
            let id = self.id();
            let frame = Body::new(native::UNSUBSCRIBE, id)
                .string("channel", channel)
                .end();
            self.send_request(id, Pending::Unsubscribe, frame);
        }
    }

    /// Publishes; the relay's answer comes back as an [`Output::Report`]. Queued while not
    /// connected; when durable, kept with a key until answered and sent again on every new
    /// connection (see [`Session::restore`]).
    /// `data_json` must be JSON text.
    pub fn publish(&mut self, _now_ms: u64, channel: &str, event: &str, data_json: &str) {
        let id = self.id();
        let durable = self.link.config().durable;
        let body = if durable {
            Body::keyed(&self.link.key())
        } else {
            Body::new(native::PUBLISH, id)
        };
        let body = body
            .string("channel", channel)
            .string("event", event)
            .raw("data", data_json);
        if durable {
            return self.publish_kept(id, body, channel, event);
        }
        let pending = Pending::Publish {
            channel: channel.to_owned(),
            event: event.to_owned(),
        };
        self.request(id, pending, body.end());
    }

    /// Asks for a channel's kept messages (`msg`: the personal stream); answered with an
    /// [`Output::Reply`] carrying the returned id. The relay pages long histories by size:
    /// a result with `"more": true` continues with [`Self::history_before`].
    pub fn history(&mut self, now_ms: u64, channel: &str, limit: Option<u32>) -> u64 {
        self.history_before(now_ms, channel, limit, None)
    }

    /// The page of kept messages older than seq `before` (the first publication of a page
    /// whose result said `"more": true`).
    pub fn history_before(
        &mut self,
        _now_ms: u64,
        channel: &str,
        limit: Option<u32>,
        before: Option<u64>,
    ) -> u64 {
        let id = self.id();
        let mut body = Body::new(native::HISTORY, id).string("channel", channel);
        if let Some(n) = limit {
            body = body.raw("limit", &with_number("", n.into(), ""));
        }
        if let Some(b) = before {
            body = body.raw("before", &with_number("", b, ""));
        }
        self.query(id, body.end())
    }

    /// Who is on `channel`: `{"count","users"?}` in the [`Output::Reply`].
    pub fn presence(&mut self, _now_ms: u64, channel: &str) -> u64 {
        let id = self.id();
        self.query(
            id,
            Body::new(native::PRESENCE, id)
                .string("channel", channel)
                .end(),
        )
    }

    /// A user's public data set by the back end: `{"user_id","data"}` in the reply.
    pub fn user_data(&mut self, _now_ms: u64, user_id: &str) -> u64 {
        let id = self.id();
        self.query(
            id,
            Body::new(native::USER_DATA, id)
                .string("user_id", user_id)
                .end(),
        )
    }

    pub fn handle_socket_open(&mut self, now_ms: u64) {
        let Some(reconnect) = self.link.opened(self.link.generation(), now_ms) else {
            return;
        };
        self.authorized = false;
        if !reconnect {
            self.out.push_back(Output::Connected);
        }
        self.set_state(State::Connected, 0, "");
        self.personal.confirmed = false;
        self.personal.since_sent = false;
        // The credentials borrowed, not cloned (the id taken by hand for that): module size.
        let id = self.next_id;
        match &self.creds {
            Some(c) => {
                self.next_id += 1;
                let body = Body::new(native::AUTH, id);
                let body = match c {
                    Credentials::Key { user_id, user_key } => {
                        body.string("user_id", user_id).string("user_key", user_key)
                    }
                    Credentials::Token(t) => body.string("token", t),
                    Credentials::Skey(k) => body.string("skey", k),
                };
                let mut body = body.string("device", &self.device);
                if let Some(p) = &self.personal.position {
                    body = body.raw("since", &p.to_json());
                    self.personal.since_sent = true;
                }
                self.send_request(id, Pending::Auth, body.end());
            }
            // Anonymous: the relay wants a first frame within its handshake timeout, and a
            // page with nothing to subscribe yet has nothing else to send.
            None => self.out.push_back(Output::Send(packet::PING.to_owned())),
        }
        for i in 0..self.channels.len() {
            self.send_subscribe(i);
        }
        for (id, pending, frame) in self.outbox.take() {
            self.send_request(id, pending, frame);
        }
        self.resend_kept();
    }

    /// One inbound text frame. Any frame proves the connection alive.
    pub fn handle_socket_message(&mut self, now_ms: u64, text: &str) {
        let p = Packet::parse(text);
        match self.link.inbound(self.link.generation(), now_ms, &p) {
            Frame::Stale | Frame::Taken => return,
            Frame::Ping => return self.out.push_back(Output::Send(packet::PONG.to_owned())),
            Frame::Dialect => {}
        }
        let body = p.content.unwrap_or("{}");
        match p.kind {
            // Sent before a terminal close: whatever close code follows, do not come back.
            PacketType::Close => self.link.ending(),
            PacketType::Other(native::REPLY) => self.on_reply(now_ms, body),
            PacketType::Other(native::PUB) => self.on_pub(body),
            // `error` packets answer frames without an id (a bad ack); nothing to settle.
            _ => {}
        }
    }

    /// The socket closed with `code` (1006 when the browser gives none).
    pub fn handle_socket_close(&mut self, now_ms: u64, code: u16) {
        match self.link.socket_closed(self.link.generation(), code) {
            Closed::Stale => {}
            Closed::Lost | Closed::Failed => {
                self.lost(now_ms, false, code.into(), "connection closed")
            }
            Closed::Terminal => {
                // The host's socket is gone already; `Close` only makes it forget the socket.
                self.out.push_back(Output::Close);
                self.authorized = false;
                self.requeue_reads();
                self.fail_pending(ERR_STOPPED, "the relay closed the session");
                self.out.push_back(Output::Stopped(Failure::new(
                    u32::from(code),
                    "closed by the relay",
                )));
                self.set_state(State::Disconnected, code.into(), "closed by the relay");
            }
        }
    }

    /// Skips the rest of a backoff wait (network back, page visible again).
    pub fn reconnect_now(&mut self, now_ms: u64) {
        if self.link.wake(now_ms) {
            self.open();
        }
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        let due = self.link.next_deadline();
        match self.resend_at.filter(|_| self.is_connected()) {
            Some(at) => Some(due.map_or(at, |d| d.min(at))),
            None => due,
        }
    }

    /// Runs the timers due at `now_ms`; early, late or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.resend_refused(now_ms);
        // Bounded as in the tunnel: each step moves the deadlines past `now_ms`.
        for _ in 0..16 {
            match self.link.fire(now_ms) {
                None => return,
                Some(Due::Connect) => self.open(),
                // No fetch step in this dialect.
                Some(Due::FetchTimedOut) => {}
                Some(Due::OpenTimedOut) => self.lost(now_ms, true, 0, "connect timeout"),
                Some(Due::Ping) => self.out.push_back(Output::Send(packet::PING.to_owned())),
                Some(Due::Silent) => self.lost(now_ms, true, 0, "no pong"),
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn stream_mut(&mut self, name: &str) -> Option<&mut Stream> {
        if name == PERSONAL {
            return Some(&mut self.personal);
        }
        self.channels
            .iter_mut()
            .find(|(c, _)| c == name)
            .map(|(_, s)| s)
    }

    /// A new attempt began: the host opens its socket.
    fn open(&mut self) {
        self.out.push_back(Output::Open);
    }

    /// Forgets the current socket and asks the host to close it.
    fn drop_socket(&mut self) {
        if self.link.has_socket() {
            self.out.push_back(Output::Close);
        }
        self.authorized = false;
        self.requeue_reads();
    }

    /// Tells the page about a new state; repeats (a retry while connecting) are not news.
    fn set_state(&mut self, state: State, code: u32, reason: &str) {
        if state != self.state {
            self.state = state;
            self.out.push_back(Output::State {
                state,
                code,
                reason: reason.to_owned(),
            });
        }
    }

    /// The connection is gone (`code`, `reason`: why); come back after a jittered backoff.
    fn lost(&mut self, now_ms: u64, close_socket: bool, code: u32, reason: &str) {
        if close_socket {
            self.out.push_back(Output::Close);
        }
        self.authorized = false;
        self.requeue_reads();
        match self.link.retry(now_ms) {
            Retry::Wait { .. } => self.set_state(State::Connecting, code, reason),
            Retry::GaveUp { tries } => {
                self.fail_pending(ERR_RECONNECT, "gave up reconnecting");
                let why = with_number("gave up after ", tries.into(), " reconnect tries");
                self.set_state(State::Disconnected, ERR_RECONNECT, &why);
                self.out
                    .push_back(Output::Stopped(Failure::new(ERR_RECONNECT, why)));
            }
        }
    }

    fn send_subscribe(&mut self, index: usize) {
        let id = self.id();
        let Some((channel, stream)) = self.channels.get_mut(index) else {
            return;
        };
        let mut body = Body::new(native::SUBSCRIBE, id).string("channel", channel);
        stream.confirmed = false;
        stream.since_sent = false;
        if let Some(p) = &stream.position {
            body = body.raw("since", &p.to_json());
            stream.since_sent = true;
        }
        let pending = Pending::Subscribe(channel.clone());
        self.send_request(id, pending, body.end());
    }
}
