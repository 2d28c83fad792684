//! [`Link`]: the connection lifecycle both dialects share, written once. The Wafer
//! [`Tunnel`](crate::Tunnel) and the native [`comet::Session`](crate::comet::Session) each
//! embed one and keep only their dialect (framing, outbox, subscriptions, replies, events).
//!
//! The link owns the phase (closed → connecting → open, backing off in between), the number
//! of the current connection attempt (its generation), the jittered backoff and its tries,
//! the connect timeout of each step, liveness (pings, and a watchdog that any inbound frame
//! re-arms), giving up, the wake-up that skips a backoff wait, and the next deadline. It says
//! what happened through return values and leaves what to tell the page to the dialect, so
//! each keeps its own words and order of events.

use cometa_protocol::packet::{Packet, PacketType};
use cometa_protocol::{CloseClass, CloseCode};

use crate::backoff;
use crate::config::TunnelConfig;
use crate::rng::Rng;
use crate::status::Status;

/// Floor for the ping period, whether configured or sent by the server: a `timeout:0` packet
/// must not turn the client into a ping flood.
const MIN_PING_INTERVAL_MS: u64 = 1000;

/// No deadline.
const NEVER: u64 = u64::MAX;

/// Which step of a connection the link is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed,
    /// Backing off before the next try.
    Waiting,
    /// The host was asked for a connect URL (dialects with a fetch step only).
    Fetching,
    /// The host was asked to open a socket.
    Opening,
    Open,
}

/// A timer that came due ([`Link::fire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The backoff wait is over: a new attempt began; start its first step.
    Connect,
    /// The connect URL did not come within the connect timeout.
    FetchTimedOut,
    /// The socket did not open within the connect timeout; it must be closed.
    OpenTimedOut,
    /// Send a `ping` packet.
    Ping,
    /// Nothing came in for `pong_timeout_ms` after a ping; the socket must be closed.
    Silent,
}

/// What [`Link::retry`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Waiting out a backoff; `first`: this failure began the outage.
    Wait { first: bool },
    /// `max_reconnect_tries` failed tries in a row: the link is closed.
    GaveUp { tries: u32 },
}

/// What an inbound frame meant to the link ([`Link::inbound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Not from the open socket of the current attempt: ignore it.
    Stale,
    /// The server pings: answer with a `pong` packet.
    Ping,
    /// Liveness the link took care of (`pong`).
    Taken,
    /// The dialect's.
    Dialect,
}

/// How a socket ended ([`Link::socket_closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Not the current attempt's socket, or none is open: ignore it.
    Stale,
    /// A terminal-class code, or the server announced the end: the link is closed.
    Terminal,
    /// An open connection was lost; the dialect retries.
    Lost,
    /// The socket closed before opening; the dialect retries.
    Failed,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Link {
    config: TunnelConfig,
    rng: Rng,
    phase: Phase,
    /// The phase's timer: the end of the wait, the step's connect deadline, or the next ping
    /// ([`NEVER`]: none). Set with every change of phase, so leaving a phase cancels it.
    due: u64,
    /// Set by a ping while open, cleared by any inbound frame and by every change of phase.
    pong_deadline: u64,
    /// The open socket's ping period: a `timeout:<s>` packet changes it until the next one.
    ping_interval: u64,
    /// Each attempt (fetch and socket) gets the next number; events of an older one are late.
    generation: u32,
    /// Whether an attempt begins by fetching a connect URL (the Wafer tunnel's service).
    fetch_first: bool,
    /// Failed tries in the current outage; reset when a socket opens.
    attempts: u32,
    /// The current try follows a lost or failed connection.
    retrying: bool,
    /// A socket opened since `start`: the next one is a reconnect.
    connected: bool,
    /// The server announced the end of this socket: its close is terminal whatever the code.
    ending: bool,
}

// The methods each dialect calls from one place are inlined there: as separate functions
// they cost the wasm module more than their bodies.
impl Link {
    /// A closed link. `seed` feeds the jitter; `fetch_first`: each attempt starts with
    /// fetching a connect URL before the socket.
    #[inline(always)]
    pub(crate) fn new(config: TunnelConfig, seed: u64, fetch_first: bool) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
            phase: Phase::Closed,
            due: NEVER,
            pong_deadline: NEVER,
            ping_interval: 0,
            generation: 0,
            fetch_first,
            attempts: 0,
            retrying: false,
            connected: false,
            ending: false,
        }
    }

    pub(crate) fn config(&self) -> &TunnelConfig {
        &self.config
    }

    pub(crate) fn config_mut(&mut self) -> &mut TunnelConfig {
        &mut self.config
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn retrying(&self) -> bool {
        self.retrying
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// A socket exists (opening or open) that the host must close when the link lets go.
    pub(crate) fn has_socket(&self) -> bool {
        matches!(self.phase, Phase::Opening | Phase::Open)
    }

    /// Wafer's four states.
    pub(crate) fn status(&self) -> Status {
        match self.phase {
            Phase::Closed => Status::Closed,
            Phase::Open => Status::Active,
            Phase::Waiting => Status::Reconnecting,
            Phase::Fetching | Phase::Opening if self.retrying => Status::Reconnecting,
            Phase::Fetching | Phase::Opening => Status::Connecting,
        }
    }

    /// A fresh idempotency key from the jitter's source: 16 characters of `[0-9A-Za-z]`,
    /// about 95 bits (a durable tunnel's emits, a durable session's publishes).
    pub(crate) fn key(&mut self) -> String {
        const ALPHABET: &[u8; 62] =
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut out = String::with_capacity(16);
        for _ in 0..2 {
            let mut n = self.rng.next_u64();
            for _ in 0..8 {
                out.push(char::from(ALPHABET[(n % 62) as usize]));
                n /= 62;
            }
        }
        out
    }

    /// Begins a fresh life: the first attempt starts (fetch or open). `false`, doing nothing,
    /// unless closed.
    #[inline(always)]
    pub(crate) fn start(&mut self, now_ms: u64) -> bool {
        if self.phase != Phase::Closed {
            return false;
        }
        self.retrying = false;
        self.connected = false;
        self.attempts = 0;
        self.connect(now_ms);
        true
    }

    /// The page woke up or the network came back: a backoff wait ends and an attempt starts
    /// now (`true`). Any other phase is left alone.
    #[inline(always)]
    pub(crate) fn wake(&mut self, now_ms: u64) -> bool {
        let waiting = self.phase == Phase::Waiting;
        if waiting {
            self.connect(now_ms);
        }
        waiting
    }

    /// Closes for good (until `start`). Returns whether a socket was there to close.
    pub(crate) fn shut(&mut self) -> bool {
        let had = self.has_socket();
        self.enter(Phase::Closed, NEVER);
        self.retrying = false;
        self.attempts = 0;
        had
    }

    /// Whether attempt `generation` is waiting for its connect URL.
    pub(crate) fn fetching(&self, generation: u32) -> bool {
        generation == self.generation && self.phase == Phase::Fetching
    }

    /// The connect URL came: the socket step begins.
    #[inline(always)]
    pub(crate) fn fetched(&mut self, now_ms: u64) {
        if self.phase == Phase::Fetching {
            self.enter(Phase::Opening, self.connect_deadline(now_ms));
        }
    }

    /// Attempt `generation`'s socket opened. `None` if it is not the one awaited; else
    /// whether a socket was open before since `start` (a reconnect).
    #[inline(always)]
    pub(crate) fn opened(&mut self, generation: u32, now_ms: u64) -> Option<bool> {
        if generation != self.generation || self.phase != Phase::Opening {
            return None;
        }
        let reconnect = self.connected;
        self.connected = true;
        self.retrying = false;
        self.attempts = 0;
        self.ending = false;
        self.ping_interval = self.config.ping_interval_ms.max(MIN_PING_INTERVAL_MS);
        self.enter(Phase::Open, now_ms.saturating_add(self.ping_interval));
        Some(reconnect)
    }

    /// One inbound frame on attempt `generation`'s socket. Any frame proves the connection
    /// alive and clears the pong deadline: a page whose own timers are throttled in a
    /// background tab still receives frames promptly, and must not drop a working
    /// connection because its pong timer ran late.
    #[inline(always)]
    pub(crate) fn inbound(&mut self, generation: u32, now_ms: u64, packet: &Packet) -> Frame {
        if generation != self.generation || self.phase != Phase::Open {
            return Frame::Stale;
        }
        self.pong_deadline = NEVER;
        match packet.kind {
            PacketType::Ping => Frame::Ping,
            // Wafer's rhythm: the next ping one interval after the pong.
            PacketType::Pong => {
                self.due = now_ms.saturating_add(self.ping_interval);
                Frame::Taken
            }
            _ => Frame::Dialect,
        }
    }

    /// A `timeout:<s>` packet (Wafer's; the native dialect has none, and its module does not
    /// link the parser): the server sets this socket's ping period, the next ping one period
    /// from now. Unparseable values are ignored, as in Wafer.
    #[inline(always)]
    pub(crate) fn timeout_packet(&mut self, now_ms: u64, content: Option<&str>) {
        if let (Phase::Open, Some(ms)) = (self.phase, parse_timeout(content)) {
            self.ping_interval = ms;
            self.due = now_ms.saturating_add(ms);
        }
    }

    /// The server announced the end (a `close` packet): the close that follows is terminal.
    pub(crate) fn ending(&mut self) {
        self.ending = true;
    }

    /// Attempt `generation`'s socket closed with `code`. A terminal one closes the link; a
    /// lost or failed one leaves the retry to the dialect ([`Link::retry`]).
    #[inline(always)]
    pub(crate) fn socket_closed(&mut self, generation: u32, code: u16) -> Closed {
        if generation != self.generation || !self.has_socket() {
            return Closed::Stale;
        }
        if self.ending || CloseCode::class_of(code) == CloseClass::Terminal {
            self.shut();
            return Closed::Terminal;
        }
        if self.is_open() {
            Closed::Lost
        } else {
            Closed::Failed
        }
    }

    /// The attempt failed or the connection is gone (the caller dealt with the socket):
    /// back off with jitter, or give up after `max_reconnect_tries`.
    #[inline(always)]
    pub(crate) fn retry(&mut self, now_ms: u64) -> Retry {
        let tries = self.attempts;
        if self
            .config
            .max_reconnect_tries
            .is_some_and(|max| tries >= max)
        {
            self.shut();
            return Retry::GaveUp { tries };
        }
        let first = !self.retrying;
        self.retrying = true;
        let delay = backoff::delay_ms(
            tries,
            self.config.backoff_base_ms,
            self.config.backoff_cap_ms,
            self.rng.next_unit(),
        );
        self.attempts = tries.saturating_add(1);
        self.enter(Phase::Waiting, now_ms.saturating_add(delay));
        Retry::Wait { first }
    }

    /// The next deadline (absolute ms), or `None` when no timer runs.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let next = self.due.min(self.pong_deadline);
        (next != NEVER).then_some(next)
    }

    /// The timer due at `now_ms`, if any, with the link moved past it. Call it until `None`:
    /// each step moves the deadlines past `now_ms` once the dialect handled what it returned.
    #[inline(always)]
    pub(crate) fn fire(&mut self, now_ms: u64) -> Option<Due> {
        if self.next_deadline()? > now_ms {
            return None;
        }
        match self.phase {
            Phase::Closed => None,
            Phase::Waiting => {
                self.connect(now_ms);
                Some(Due::Connect)
            }
            Phase::Fetching => Some(Due::FetchTimedOut),
            Phase::Opening => Some(Due::OpenTimedOut),
            Phase::Open if self.pong_deadline <= now_ms => Some(Due::Silent),
            Phase::Open => {
                self.due = now_ms.saturating_add(self.ping_interval);
                // An unanswered earlier ping keeps its deadline.
                if self.pong_deadline == NEVER {
                    self.pong_deadline = now_ms.saturating_add(self.config.pong_timeout_ms);
                }
                Some(Due::Ping)
            }
        }
    }

    /// A new attempt: the next generation, and its first step.
    fn connect(&mut self, now_ms: u64) {
        self.generation = self.generation.wrapping_add(1);
        let step = if self.fetch_first {
            Phase::Fetching
        } else {
            Phase::Opening
        };
        self.enter(step, self.connect_deadline(now_ms));
    }

    fn enter(&mut self, phase: Phase, due: u64) {
        self.phase = phase;
        self.due = due;
        self.pong_deadline = NEVER;
    }

    fn connect_deadline(&self, now_ms: u64) -> u64 {
        // At least 1 ms so a deadline never falls due in the instant it is set.
        self.config
            .connect_timeout_ms
            .map_or(NEVER, |t| now_ms.saturating_add(t.max(1)))
    }
}

/// `timeout:<seconds>` content in milliseconds; `None` for anything but a positive decimal
/// number. Fractions are allowed because Wafer multiplied whatever JSON number it got. Parsed
/// by hand: `str::parse::<f64>` would pull about 10 KB (gzipped) of float tables into the wasm.
fn parse_timeout(content: Option<&str>) -> Option<u64> {
    // ASCII trimming and digits by hand: `trim` and `str::parse` would bring Unicode
    // whitespace tables and the integer parser into the wasm module, `split_once` a char
    // searcher and `memchr`.
    let text = content?.trim_ascii();
    let dot = text.bytes().position(|b| b == b'.');
    let (whole, frac) = dot.map_or((text, ""), |i| (&text[..i], &text[i + 1..]));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(frac) {
        return None;
    }
    // Overflow tests by division: `checked_mul` on u64 links a 128-bit multiplication into
    // the wasm module.
    let mut secs: u64 = 0;
    for b in whole.bytes() {
        let digit = u64::from(b - b'0');
        if secs > (u64::MAX - digit) / 10 {
            return None;
        }
        secs = secs * 10 + digit;
    }
    if secs > u64::MAX / 1000 {
        return None;
    }
    let mut millis = secs * 1000;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis = millis.saturating_add(u64::from(b - b'0') * [100, 10, 1][i]);
    }
    (millis > 0).then(|| millis.max(MIN_PING_INTERVAL_MS))
}

#[cfg(test)]
mod tests;
