//! The tunnel state machine: Wafer's dialect over the shared [`Link`] (lifecycle, backoff,
//! liveness, close-code classes), with a bounded outbox and Wafer's events and errors.
//!
//! Sans-IO in the quinn-proto style: the host feeds in what happened (`handle_*`, with the
//! current time), then drains what to do (`poll_action`) and what to tell the page
//! (`poll_event`), and calls `handle_timeout` once `poll_timeout` has passed. No clock, timer,
//! socket or randomness of its own, so every scenario runs on virtual time in tests.

use cometa_protocol::CloseCode;
use cometa_protocol::native::REPLY;
use cometa_protocol::packet::{self, Packet, PacketType};

use crate::config::TunnelConfig;
use crate::event::{
    ACK_EVENT, Action, ERR_BAD_PACKET, ERR_CONNECT_SERVICE, ERR_CONNECT_SOCKET,
    ERR_OUTBOX_OVERFLOW, ERR_RECONNECT, ERR_SOCKET_ERROR, Event, escape_event,
};
use crate::json::{self, with_number};
use crate::link::{Closed, Due, Frame, Link, Phase, Retry};
use crate::message;
use crate::outbox::Outbox;
use crate::queue::Queue;
use crate::resend::Resend;
use crate::status::Status;

/// One tunnel. See the crate documentation for the host loop.
#[derive(Debug)]
pub struct Tunnel {
    /// The lifecycle; each attempt fetches a connect URL, then opens the socket. Whether it
    /// is retrying decides Connecting vs Reconnecting and whether a failure closes (first
    /// try) or retries; whether it connected since `open()` decides Connect vs Reconnect, so
    /// a page always sees `connect` first even when the first try needed retries.
    link: Link,
    outbox: Outbox,
    /// A durable tunnel's unanswered emits (its outbox is unused).
    resend: Resend,
    /// A durable tunnel dropped an emit since the last socket opened (one 3003 per outage).
    resend_overflowed: bool,
    actions: Queue<Action>,
    events: Queue<Event>,
    /// The id of the last acknowledged emit.
    next_ack: u64,
    /// The personal stream's epoch (the relay's `stream` packet, compared whole) and the
    /// highest seq handed to the page in it: the wire is at-least-once (a reconnect replays
    /// what the relay has no receipt for), the page sees each message once.
    epoch: Option<String>,
    delivered: u64,
}

impl Tunnel {
    /// A closed tunnel. `seed` feeds the backoff jitter; give each page a different one (e.g.
    /// from `Math.random()`), or the clients of a restarted relay come back in step.
    pub fn new(config: TunnelConfig, seed: u64) -> Self {
        let outbox = Outbox::new(config.max_outbox);
        Self {
            link: Link::new(config, seed, true),
            outbox,
            resend: Resend::default(),
            resend_overflowed: false,
            actions: Queue::default(),
            events: Queue::default(),
            next_ack: 0,
            epoch: None,
            delivered: 0,
        }
    }

    pub fn status(&self) -> Status {
        self.link.status()
    }

    pub fn config(&self) -> &TunnelConfig {
        self.link.config()
    }

    /// Failed tries in the current outage (0 while active).
    pub fn reconnect_attempts(&self) -> u32 {
        self.link.attempts()
    }

    /// The number of the current connection attempt (its connect-URL fetch and its socket),
    /// new with every attempt. A host may tag what it starts for an attempt with it and drop
    /// the late callbacks of an older one rather than report them.
    pub fn socket_generation(&self) -> u32 {
        self.link.generation()
    }

    /// Packets waiting for the tunnel to become active; on a durable tunnel, the emits the
    /// relay has not answered.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len() + self.resend.len()
    }

    /// Takes a durable tunnel's unanswered emits back from storage (the host's copy of the
    /// last [`Action::Persist`], e.g. after a reload): they are sent, each with a new reply
    /// id and its old key, when a socket is open. Lines that are not message bodies with a
    /// key are skipped. Does nothing on a tunnel that is not durable.
    pub fn restore(&mut self, persisted: &str) {
        if !self.config().durable {
            return;
        }
        // Lines cut by hand: `split('\n')` links a char searcher into the wasm module.
        let mut rest = persisted;
        while !rest.is_empty() {
            let end = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
            let body = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            let keyed = crate::json::Object::scan(body).is_ok_and(|o| o.string("mid").is_some());
            if keyed && message::scan(body).is_ok() {
                self.next_ack += 1;
                self.keep(self.next_ack, body.to_owned());
            }
        }
        self.persist();
    }

    /// Starts connecting. Does nothing unless closed, like Wafer's guard against a second
    /// `open()`. Reopening after `close()` is a fresh start (status Connecting, then a
    /// `connect` event), where Wafer would report it as a reconnect.
    pub fn open(&mut self, now_ms: u64) {
        if self.link.start(now_ms) {
            self.fetch();
        }
    }

    /// The answer to [`Action::FetchConnectUrl`]: the `connectUrl`, or why there is none.
    /// Ignored unless a fetch is pending (e.g. a late answer after `close()`).
    pub fn handle_connect_url(&mut self, now_ms: u64, result: Result<String, String>) {
        if !self.link.fetching(self.link.generation()) {
            return;
        }
        match result {
            Ok(url) if !url.is_empty() => {
                self.link.fetched(now_ms);
                self.actions.push_back(Action::OpenSocket { url });
            }
            Ok(_) => self.service_failed(now_ms, "the service returned no connectUrl"),
            Err(detail) => self.service_failed(now_ms, &detail),
        }
    }

    pub fn handle_socket_open(&mut self, now_ms: u64) {
        let Some(reconnect) = self.link.opened(self.link.generation(), now_ms) else {
            return;
        };
        let event = if reconnect {
            Event::Reconnect
        } else {
            Event::Connect
        };
        self.events.push_back(event);
        for frame in self.outbox.drain() {
            self.actions.push_back(Action::Send(frame));
        }
        // Unanswered emits go again: the relay drops the ones it had taken (same key).
        self.resend_overflowed = false;
        for frame in self.resend.frames() {
            self.actions.push_back(Action::Send(frame));
        }
    }

    /// One inbound text frame. Any frame proves the connection alive (see [`Link::inbound`]);
    /// `ping` and `pong` are the link's, `timeout:<s>` sets its ping period.
    pub fn handle_socket_message(&mut self, now_ms: u64, text: &str) {
        let packet = Packet::parse(text);
        match self.link.inbound(self.link.generation(), now_ms, &packet) {
            Frame::Stale | Frame::Taken => return,
            // The relay may drive liveness itself; answering costs one small frame.
            Frame::Ping => {
                return self
                    .actions
                    .push_back(Action::Send(packet::PONG.to_owned()));
            }
            Frame::Dialect => {}
        }
        match packet.kind {
            PacketType::Timeout => self.link.timeout_packet(now_ms, packet.content),
            // The server ends the tunnel on purpose: terminal, no reconnect.
            PacketType::Close => self.shut(true),
            PacketType::Message => self.deliver(packet.content),
            PacketType::Other(REPLY) => self.acknowledged(packet.content),
            PacketType::Other(packet::STREAM) => self.stream(packet.content),
            // Packets of the native dialect or a newer version: ignored, as Wafer does; the
            // link took the liveness ones.
            _ => {}
        }
    }

    /// The socket closed with `code` (1006 when the browser gives none). Terminal-class codes
    /// (4500–4999) close the tunnel; any other code reconnects.
    pub fn handle_socket_close(&mut self, now_ms: u64, code: u16) {
        match self.link.socket_closed(self.link.generation(), code) {
            Closed::Stale => {}
            Closed::Terminal => {
                self.shut(false);
                self.error(
                    u32::from(code),
                    "closed by the server: ".to_owned() + close_reason(code),
                );
            }
            Closed::Lost => {
                let why = with_number("connection lost (close code ", code.into(), ")");
                self.retry(now_ms, why);
            }
            Closed::Failed => {
                self.socket_failed(now_ms, &with_number("close code ", code.into(), ""))
            }
        }
    }

    /// A socket error. Reported only during the first connection, as Wafer does; otherwise
    /// the close that follows every socket error drives the recovery.
    pub fn handle_socket_error(&mut self, _now_ms: u64, detail: &str) {
        if self.link.phase() == Phase::Opening && !self.link.retrying() {
            self.error(
                ERR_SOCKET_ERROR,
                "socket error while connecting: ".to_owned() + detail,
            );
        }
    }

    /// Sends `{"type":event,"content":content_json}` now if active, else queues it until the
    /// next socket opens (also while closed, as Wafer does). `content_json` must be JSON text;
    /// empty means `null`.
    pub fn emit(&mut self, now_ms: u64, event: &str, content_json: &str) {
        if self.config().durable {
            // Kept until answered, so it needs a reply id even if the page wants no ack.
            self.emit_with_ack(now_ms, event, content_json);
        } else {
            self.send_message(now_ms, event, content_json, None);
        }
    }

    /// [`Tunnel::emit`] asking the relay to acknowledge: the frame carries the returned `id`,
    /// and the relay's `reply` with it comes back as an [`ACK_EVENT`] message once it took the
    /// message or refused it (nobody can receive it, its webhook queue is full). Queued while
    /// not active, like `emit`. What the core cannot answer — the packet dropped from the full
    /// outbox, the socket lost before the reply — the host settles from the tunnel's events.
    pub fn emit_with_ack(&mut self, now_ms: u64, event: &str, content_json: &str) -> u64 {
        self.next_ack += 1;
        self.send_message(now_ms, event, content_json, Some(self.next_ack));
        self.next_ack
    }

    fn send_message(&mut self, _now_ms: u64, event: &str, content_json: &str, ack: Option<u64>) {
        let content = if content_json.trim_ascii().is_empty() {
            "null"
        } else {
            content_json
        };
        // `message:{"type":..,"content":..` written into one buffer (the shape of
        // `packet::encode_message`), then the members that depend on the kind of emit.
        let mut frame = String::with_capacity(48 + event.len() + content.len());
        frame.push_str("message:{\"type\":");
        json::push_string(&mut frame, event);
        frame.push_str(",\"content\":");
        frame.push_str(content);
        // A durable emit's body `{…,"mid":"<key>"}` is kept and sent until answered.
        let durable = self.config().durable;
        let mut body = None;
        if durable {
            frame.push_str(",\"mid\":\"");
            frame.push_str(&self.link.key());
            frame.push('"');
            body = Some(frame["message:".len()..].to_owned() + "}");
        }
        // `…,"id":N}`: the id the relay's `reply` names (what `Resend::frame` writes too).
        if let Some(id) = ack {
            frame.push_str(",\"id\":");
            json::push_dec(&mut frame, id);
        }
        frame.push('}');
        if let (Some(body), Some(id)) = (body, ack) {
            if self.link.is_open() {
                self.actions.push_back(Action::Send(frame));
            }
            self.keep(id, body);
            self.persist();
            return;
        }
        if self.link.is_open() {
            self.actions.push_back(Action::Send(frame));
        } else if self.outbox.push(frame) {
            self.error(
                ERR_OUTBOX_OVERFLOW,
                with_number(
                    "outbox full (",
                    self.config().max_outbox as u64,
                    " packets) while not connected: oldest packets dropped",
                ),
            );
        }
    }

    /// Keeps an unanswered emit, reporting the first drop of an outage.
    fn keep(&mut self, id: u64, body: String) {
        let max = self.config().max_outbox;
        let dropped = self.resend.push(id, body, (), max);
        if dropped && !self.resend_overflowed {
            self.resend_overflowed = true;
            self.error(
                ERR_OUTBOX_OVERFLOW,
                with_number(
                    "over ",
                    max as u64,
                    " unanswered packets: oldest packets dropped",
                ),
            );
        }
    }

    fn persist(&mut self) {
        self.actions
            .push_back(Action::Persist(self.resend.persisted()));
    }

    /// The user closes the tunnel: a `close` packet if active, the socket closed, a `close`
    /// event. Does nothing when already closed, so the page sees one `close` per tunnel life.
    pub fn close(&mut self, _now_ms: u64) {
        if self.link.is_closed() {
            return;
        }
        if self.link.is_open() {
            self.actions
                .push_back(Action::Send(packet::CLOSE.to_owned()));
        }
        self.shut(true);
    }

    /// The host ends the tunnel for good, as a terminal close from the server would: a
    /// `close` packet if active, the socket closed, a `close` event, then an `error` with
    /// `code`. Hosts call it when the session the tunnel runs on has ended (its renewal was
    /// refused), where reconnecting could only fail again. Does nothing when closed.
    pub fn end(&mut self, now_ms: u64, code: u32, message: String) {
        if !self.link.is_closed() {
            self.close(now_ms);
            self.error(code, message);
        }
    }

    /// Skips the rest of the backoff wait and tries now. Hosts call it when the browser says
    /// the network is back (`online`) or the page becomes visible again, when waiting out a
    /// 30 s backoff would only delay the user. Does nothing in any other state.
    pub fn reconnect_now(&mut self, now_ms: u64) {
        if self.link.wake(now_ms) {
            self.fetch();
        }
    }

    /// Runs every timer due at `now_ms`. Calling it early, late or twice is harmless.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        // Each step moves the phase or its deadlines past `now_ms`; the bound only guards
        // against a mistake in that reasoning turning into a hang in the host.
        for _ in 0..16 {
            let Some(due) = self.link.fire(now_ms) else {
                return;
            };
            match due {
                Due::Connect => self.fetch(),
                Due::FetchTimedOut => self.service_failed(now_ms, "timed out"),
                Due::OpenTimedOut => {
                    self.actions.push_back(Action::CloseSocket);
                    self.socket_failed(now_ms, "timed out");
                }
                Due::Ping => self
                    .actions
                    .push_back(Action::Send(packet::PING.to_owned())),
                Due::Silent => {
                    self.actions.push_back(Action::CloseSocket);
                    let waited = self.config().pong_timeout_ms;
                    let why = with_number("no frame from the server for ", waited, " ms");
                    self.retry(now_ms, why);
                }
            }
        }
    }

    /// The next deadline (absolute ms), or `None` when no timer runs.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.link.next_deadline()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The connect URL could not be had. On the first try the tunnel closes with 1001, as in
    /// Wafer: a page that cannot reach its service at all learns it at once instead of
    /// retrying silently. Once it has got further, the failure is transient and it retries.
    fn service_failed(&mut self, now_ms: u64, detail: &str) {
        let message = "connect service failed: ".to_owned() + detail;
        if self.link.retrying() {
            self.retry(now_ms, message);
        } else {
            // No `close` event: the tunnel never connected (Wafer's behaviour).
            self.link.shut();
            self.error(ERR_CONNECT_SERVICE, message);
        }
    }

    /// A socket died before opening. The service did answer, so this is treated as transient
    /// and retried; on the first try the page also hears about it (1002).
    fn socket_failed(&mut self, now_ms: u64, detail: &str) {
        let message = "connect socket failed: ".to_owned() + detail;
        if !self.link.retrying() {
            self.error(ERR_CONNECT_SOCKET, message.clone());
        }
        self.retry(now_ms, message);
    }

    /// Backs off (a `reconnecting` event once per outage), or closes with 2001 after
    /// `max_reconnect_tries`. The caller has already dealt with the socket.
    fn retry(&mut self, now_ms: u64, reason: String) {
        match self.link.retry(now_ms) {
            Retry::Wait { first: true } => self.events.push_back(Event::Reconnecting),
            Retry::Wait { first: false } => {}
            Retry::GaveUp { tries } => {
                self.shut(false);
                self.error(
                    ERR_RECONNECT,
                    with_number("reconnect failed after ", tries.into(), " tries: ") + &reason,
                );
            }
        }
    }

    /// A new attempt began: it starts with the connect URL.
    fn fetch(&mut self) {
        self.actions.push_back(Action::FetchConnectUrl);
    }

    /// Enters Closed with a `close` event. `socket_alive`: a socket may still be open and
    /// must be closed by the host.
    fn shut(&mut self, socket_alive: bool) {
        if self.link.shut() && socket_alive {
            self.actions.push_back(Action::CloseSocket);
        }
        self.events.push_back(Event::Close);
    }

    fn deliver(&mut self, content: Option<&str>) {
        let Some(body) = content else {
            self.error(ERR_BAD_PACKET, "bad message packet: no content".to_owned());
            return;
        };
        match message::scan(body) {
            Ok(m) => {
                if let (Some(seq), Some(_)) = (m.seq, &self.epoch) {
                    if seq <= self.delivered {
                        return; // Already handed to the page: never twice.
                    }
                    self.delivered = seq;
                }
                self.events.push_back(Event::Message {
                    event: escape_event(&m.event),
                    content_json: m.content_json.to_owned(),
                })
            }
            Err(e) => self.error(ERR_BAD_PACKET, {
                let mut before = "bad message packet: ".to_owned();
                e.reason.push_text(&mut before);
                before.push_str(" at byte ");
                with_number(&before, e.offset as u64, "")
            }),
        }
    }

    /// The relay names the personal stream's epoch at the start of every socket. The same
    /// epoch keeps the seqs already delivered; another one is another history, where they
    /// mean nothing. The packet's content is compared whole, unparsed (module size): the
    /// relay writes the same bytes for the same epoch. No content turns dedup off.
    fn stream(&mut self, content: Option<&str>) {
        if content != self.epoch.as_deref() {
            self.epoch = content.map(str::to_owned);
            self.delivered = 0;
        }
    }

    fn error(&mut self, code: u32, message: String) {
        self.events.push_back(Event::Error { code, message });
    }

    /// A `reply:{"id","result"|"error"}`: the outcome of an acknowledged emit, handed to the
    /// host as an [`ACK_EVENT`] message, which settles it by id.
    fn acknowledged(&mut self, content: Option<&str>) {
        if let Some(body) = content {
            // Only a durable tunnel keeps emits to forget: the others skip the second scan.
            let id = self
                .config()
                .durable
                .then(|| crate::json::Object::scan(body).ok()?.u64("id"));
            if id.flatten().is_some_and(|id| self.resend.answered(id)) {
                self.persist();
            }
            self.events.push_back(Event::Message {
                event: ACK_EVENT.to_owned(),
                content_json: body.to_owned(),
            });
        }
    }
}

fn close_reason(code: u16) -> &'static str {
    CloseCode::from_code(code).map_or("terminal close code", CloseCode::reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons() {
        assert_eq!(close_reason(4502), "session revoked");
        assert_eq!(close_reason(4999), "terminal close code");
    }
}
