//! The four tunnel states Wafer exposes, with Wafer's spelling.

use std::fmt;

/// Where the tunnel stands, as a page sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not opened, closed by the user or the server, or given up.
    Closed,
    /// First attempt after `open()`: fetching the connect URL or opening the socket.
    Connecting,
    /// A socket is open; emitted packets go straight out.
    Active,
    /// The connection was lost or an attempt failed: waiting out the backoff, or trying again.
    Reconnecting,
}

impl Status {
    /// Wafer's `Tunnel.STATUS_*` strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::Connecting => "CONNECTING",
            Self::Active => "ACTIVE",
            Self::Reconnecting => "RECONNECTING",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wafer_spelling() {
        assert_eq!(Status::Closed.as_str(), "CLOSED");
        assert_eq!(Status::Connecting.as_str(), "CONNECTING");
        assert_eq!(Status::Active.as_str(), "ACTIVE");
        assert_eq!(Status::Reconnecting.to_string(), "RECONNECTING");
    }
}
