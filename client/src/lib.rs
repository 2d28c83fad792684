//! Sans-IO core of the Cometa client: a Wafer-compatible tunnel as a pure state machine.
//!
//! Time, randomness and I/O come in as arguments, so the same core runs under the wasm SDK
//! (`sdk-wasm`), a native host, and tests on virtual time.
//!
//! - [`tunnel`]: [`Tunnel`], the state machine (closed → connecting → active → reconnecting).
//!   The host loop: call a `handle_*` method for whatever happened, then drain
//!   [`Tunnel::poll_action`] (fetch, open, send, close) and [`Tunnel::poll_event`] (what to
//!   dispatch to the page), and arm one timer for [`Tunnel::poll_timeout`] that calls
//!   [`Tunnel::handle_timeout`].
//! - [`auth`]: [`auth::Auth`], the Wafer session (page logins, `request`'s re-login rule and
//!   retry, renewal before expiry) as commands and answers, on wall-clock time.
//! - [`event`]: [`Action`], [`Event`], the `ERR_*` codes and the reserved event names.
//! - [`status`]: [`Status`] with Wafer's `CLOSED`/`CONNECTING`/`ACTIVE`/`RECONNECTING`.
//! - [`config`]: [`TunnelConfig`] and its defaults.
//! - [`backoff`]: capped exponential backoff with full jitter.
//! - [`message`]: a small scanner for `{"type":..,"content":..}` bodies (the host parses the
//!   content with its own `JSON`), and the JSON string encoder for outgoing types.
//! - [`comet`]: [`comet::Session`], the native dialect's session (auth, channels with stream
//!   positions, dedup, requests and replies) behind the SDK's CometServer API.
//! - `link` (private): the connection lifecycle both dialects embed: phase, attempt
//!   generation, backoff and give-up, connect timeout, liveness, wake-up, next deadline.
//! - `json` (private): the JSON grammar behind [`message`]: a validating, non-recursive
//!   value skipper and string decoding/encoding.
//! - `outbox` (private): packets emitted before the tunnel is active; bounded.
//! - `queue` (private): the one first-in first-out list type behind every queue of the core.
//! - `rng` (private): xorshift64* for the jitter, seeded by the host.
//!
//! ```
//! use cometa_client::{Action, Event, Status, Tunnel, TunnelConfig};
//!
//! let mut tunnel = Tunnel::new(TunnelConfig::default(), 0x5eed);
//! tunnel.emit(0, "speak", r#"{"word":"hi"}"#); // queued until active
//! tunnel.open(0);
//! assert_eq!(tunnel.poll_action(), Some(Action::FetchConnectUrl));
//! tunnel.handle_connect_url(30, Ok("wss://relay.example/ws?ticket=t".into()));
//! assert!(matches!(tunnel.poll_action(), Some(Action::OpenSocket { .. })));
//! tunnel.handle_socket_open(80);
//! assert_eq!(tunnel.poll_event(), Some(Event::Connect));
//! assert_eq!(
//!     tunnel.poll_action(),
//!     Some(Action::Send(r#"message:{"type":"speak","content":{"word":"hi"}}"#.into()))
//! );
//! tunnel.handle_socket_message(90, r#"message:{"type":"close","content":1}"#);
//! assert_eq!(
//!     tunnel.poll_event(),
//!     Some(Event::Message { event: "@close".into(), content_json: "1".into() })
//! );
//! assert_eq!(tunnel.status(), Status::Active);
//! assert_eq!(tunnel.poll_timeout(), Some(80 + 15_000)); // next ping
//! ```

pub mod auth;
pub mod backoff;
pub mod comet;
pub mod config;
pub mod event;
mod json;
mod link;
pub mod message;
mod outbox;
mod queue;
mod resend;
mod rng;
pub mod status;
pub mod tunnel;

pub use config::TunnelConfig;
pub use event::{Action, Event};
pub use status::Status;
pub use tunnel::Tunnel;
