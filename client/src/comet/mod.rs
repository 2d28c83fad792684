//! The native dialect's client session (the CometServer-style API of `sdk-wasm`'s `comet`
//! feature), sans-IO like [`Tunnel`](crate::Tunnel): the host feeds in what happened with the
//! current time and drains [`Output`]s in order.
//!
//! - [`session`]: [`Session`], the state machine: connect, `auth` with the personal stream's
//!   position, (re)subscribe every channel with its position, request ids and their replies,
//!   dedup by seq, acks, a bounded queue while offline, liveness and backoff; when durable,
//!   publishes kept with a key until answered and persisted by the host across reloads.
//! - [`wire`]: the packet bodies, scanned and built without a JSON library.
//! - [`filter`]: what a `subscription()` name selects.
//!
//! Delivery rule: a message with a `seq` is handed to the page only if it is newer than the
//! stream's position; the position moves to it right after the page's callbacks have run (the
//! [`Output::Save`] that follows the [`Output::Deliver`]), so a reload resumes after the last
//! message the page actually handled and never hands it the same message twice.

#[cfg(test)]
mod durable_tests;
pub mod filter;
pub mod session;
#[cfg(test)]
mod tests;
pub mod wire;

pub use filter::Filter;
pub use session::Session;
pub use wire::{Failure, Position, Publication};

/// A publish or query was in flight when the connection was lost: the relay may or may not
/// have acted on it, and it is not re-sent (a publish without a key is not idempotent; a
/// durable session's publishes carry one and are sent again instead).
pub const ERR_UNKNOWN_OUTCOME: u32 = 3004;
/// Requests queued while offline beyond the configured `max_outbox`: the oldest are dropped.
pub const ERR_OUTBOX_OVERFLOW: u32 = crate::event::ERR_OUTBOX_OVERFLOW;
/// The session was stopped before the request could be sent or answered.
pub const ERR_STOPPED: u32 = 3005;
/// The relay's `error` code for a refused `auth`.
pub const ERR_UNAUTHORIZED: u32 = 4004;

/// Who the relay says the connection is after `auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    /// The device id the relay keeps the personal cursor under (ours, or a fresh one when
    /// ours was malformed).
    pub device: String,
}

/// Who the `auth` frame says the page is: every way the relay accepts there, so a site that
/// logs its users in through the Wafer API needs no per-user keys for this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `user_id` + `user_key`, as the site's back end registered them.
    Key { user_id: String, user_key: String },
    /// A JWT for the relay's `--jwt-secret`.
    Token(String),
    /// The session key of a Wafer-API login (`cometa`'s `Session.get().skey`).
    Skey(String),
}

/// The connection's state as the page sees it (centrifuge-js's names): `Connecting` from
/// `start` and after every loss while it retries, `Connected` on every open socket,
/// `Disconnected` once it stopped for good (`stop`, a terminal close, given up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Connected,
    Disconnected,
}

impl State {
    /// The event name the page registers for (`api.on(name, …)`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

/// What the host must do or tell the page, drained with [`Session::poll_output`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a WebSocket to the relay's `/connect` and report it through `handle_socket_*`.
    Open,
    /// Send one text frame on the open socket (ignore it when there is none).
    Send(String),
    /// Close the current socket; its later events must not be reported.
    Close,
    /// The first socket since `start` is open (the `start` callback).
    Connected,
    /// The answer to `auth`: on every connection with credentials.
    Auth(Result<Identity, Failure>),
    /// A message for the page's callbacks: the `pub:` body as it came (the host reads its
    /// `event`, `data` and `user_id`, see [`Publication`]), its channel and seq. `epoch` is
    /// the stream's, when known.
    Deliver {
        channel: String,
        seq: Option<u64>,
        json: String,
        epoch: Option<String>,
    },
    /// Persist a stream's position (`msg` for the personal stream), after the callbacks of
    /// the message that moved it have run.
    Save { stream: String, position: Position },
    /// A stream could not be resumed (`recovered: false`): messages were lost to retention
    /// or to a relay that lost its data. Replay stopped; `position` is where it goes on.
    Gap { stream: String, position: Position },
    /// The relay answered (or will never answer) a publish to `channel`.
    Report {
        channel: String,
        event: String,
        outcome: Result<Option<u64>, Failure>,
    },
    /// Store the unanswered publishes of a durable session (one body per line; empty: none,
    /// remove the stored copy) under the relay and user, for [`Session::restore`].
    Persist(String),
    /// The answer to a query (`history`, `presence`, `user_data`): raw JSON of `result`.
    Reply {
        id: u64,
        outcome: Result<String, Failure>,
    },
    /// The relay refused to subscribe to `channel` (bad name, permission).
    Refused { channel: String, failure: Failure },
    /// The session ended on its own: a terminal close (key deleted, kicked, too many
    /// devices) or `max_reconnect_tries`. It does not reconnect until `start` again.
    Stopped(Failure),
    /// The state changed; `code` and `reason` say why (a close code, or 0 when the client
    /// itself moved: `start`, `stop`, a timeout).
    State {
        state: State,
        code: u32,
        reason: String,
    },
}
