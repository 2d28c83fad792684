//! What the tunnel asks of its host ([`Action`]) and tells the page ([`Event`]), and the error
//! codes carried by [`Event::Error`].

/// Something the host must do. Drained with [`Tunnel::poll_action`](crate::Tunnel::poll_action),
/// in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET` the tunnel service URL with the session header, then answer with
    /// [`Tunnel::handle_connect_url`](crate::Tunnel::handle_connect_url).
    FetchConnectUrl,
    /// Open a WebSocket to `url` and report its events through the `handle_socket_*` methods.
    OpenSocket { url: String },
    /// Send one text frame on the open socket.
    Send(String),
    /// Close the current socket. The tunnel has stopped listening to it: the host should drop
    /// its handlers (or ignore its later events) rather than report them.
    CloseSocket,
    /// A durable tunnel's unanswered emits changed: store this text where a reload finds it
    /// (empty: remove it), and hand it to [`Tunnel::restore`](crate::Tunnel::restore) then.
    Persist(String),
}

/// Something to dispatch to the page's handlers. Drained with
/// [`Tunnel::poll_event`](crate::Tunnel::poll_event), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first connection after `open()` is up.
    Connect,
    /// The tunnel closed: by the user, by the server, or after giving up.
    Close,
    /// A connection was lost or failed; the tunnel is retrying. Once per outage.
    Reconnecting,
    /// The tunnel is back after an outage.
    Reconnect,
    /// Something went wrong; `code` is one of the `ERR_*` constants or a terminal close code
    /// (4500–4999) received from the server.
    Error { code: u32, message: String },
    /// A message from the server. `event` is already `@`-escaped when it collides with a
    /// reserved name (see [`escape_event`]); `content_json` is raw JSON for the host to parse.
    Message { event: String, content_json: String },
}

/// The [`Event::Message`] type that carries the relay's `reply` to an acknowledged emit
/// ([`Tunnel::emit_with_ack`](crate::Tunnel::emit_with_ack)): `{"id","result"}` or
/// `{"id","error":{"code","message"}}`. A control character starts it, which no relay event
/// name may contain, so no server message can pose as one; the host settles the emit and does
/// not show it to the page.
pub const ACK_EVENT: &str = "\u{1}ack";

impl Event {
    /// The handler name the page registers for this event, as in Wafer's `tunnel.on(name, ..)`.
    pub fn name(&self) -> &str {
        match self {
            Self::Connect => "connect",
            Self::Close => "close",
            Self::Reconnecting => "reconnecting",
            Self::Reconnect => "reconnect",
            Self::Error { .. } => "error",
            Self::Message { event, .. } => event,
        }
    }
}

/// The connect URL could not be fetched on the first attempt after `open()` (Wafer's
/// `ERR_CONNECT_SERVICE`); the tunnel is closed.
pub const ERR_CONNECT_SERVICE: u32 = 1001;
/// The first socket after `open()` closed before opening; the tunnel keeps retrying (Wafer
/// declared `ERR_CONNECT_SOCKET` but never raised it).
pub const ERR_CONNECT_SOCKET: u32 = 1002;
/// `max_reconnect_tries` failed tries in a row (Wafer's `ERR_RECONNECT`); the tunnel is closed.
pub const ERR_RECONNECT: u32 = 2001;
/// The socket reported an error during the first connection (Wafer's `ERR_SOCKET_ERROR`).
pub const ERR_SOCKET_ERROR: u32 = 3001;
/// A `message:` packet from the server was not a `{"type":..,"content":..}` object; it was
/// dropped and the tunnel carries on.
pub const ERR_BAD_PACKET: u32 = 3002;
/// The outbox was full while the tunnel was not active and the oldest packets were dropped.
/// Raised once per outage.
pub const ERR_OUTBOX_OVERFLOW: u32 = 3003;

/// Event names the tunnel dispatches itself. A server message with one of these types is
/// delivered as `@<type>` instead, so it cannot fake a lifecycle event (Wafer's rule).
pub const RESERVED_EVENTS: [&str; 5] = ["connect", "close", "reconnecting", "reconnect", "error"];

/// `@name` for reserved names, `name` otherwise. Only exact matches are escaped, as in Wafer,
/// so a server message typed `@close` also arrives as `@close`.
pub fn escape_event(name: &str) -> String {
    if RESERVED_EVENTS.contains(&name) {
        "@".to_owned() + name
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_escaped() {
        for name in RESERVED_EVENTS {
            assert_eq!(escape_event(name), format!("@{name}"));
        }
        assert_eq!(escape_event("speak"), "speak");
        assert_eq!(escape_event("Close"), "Close");
        assert_eq!(escape_event("@close"), "@close");
        assert_eq!(escape_event(""), "");
    }

    #[test]
    fn names() {
        assert_eq!(Event::Connect.name(), "connect");
        assert_eq!(Event::Close.name(), "close");
        assert_eq!(Event::Reconnecting.name(), "reconnecting");
        assert_eq!(Event::Reconnect.name(), "reconnect");
        let e = Event::Error {
            code: ERR_BAD_PACKET,
            message: String::new(),
        };
        assert_eq!(e.name(), "error");
        let m = Event::Message {
            event: "@close".into(),
            content_json: "null".into(),
        };
        assert_eq!(m.name(), "@close");
    }
}
