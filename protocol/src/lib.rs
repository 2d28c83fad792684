//! The wire contract shared by the relay and the clients. No I/O lives here.
//!
//! - [`packet`]: the `type[:json]` text framing of every WebSocket message (Wafer's tunnel
//!   packet format) and the encoders for the packets the relay sends.
//! - [`close`]: WebSocket close codes and their class (reconnect or terminal).
//! - [`names`]: what a user id, event name or tunnel id may look like.
//! - [`depth`]: the nesting depth of JSON input, checked before it is parsed.
//! - [`native`]: the native dialect's packet types, error codes and channel rules.
//! - [`api`] (feature `api`): JSON bodies of the HTTP API and its error envelope.

#[cfg(feature = "api")]
pub mod api;
pub mod close;
pub mod depth;
#[cfg(feature = "api")]
pub mod frames;
pub mod names;
pub mod native;
pub mod packet;

pub use close::{CloseClass, CloseCode};
pub use packet::{Packet, PacketType};
