//! Close codes sent by the relay. Like Centrifugo's, they come in two classes: after a
//! *reconnect* close a client should come back (with backoff); after a *terminal* one it must
//! not until something changes (new credentials, user action).

/// Whether a client should reconnect after this close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseClass {
    Reconnect,
    Terminal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// Normal closure requested by the client (`close` packet).
    Normal = 1000,
    /// The relay is shutting down or restarting.
    Shutdown = 1001,
    /// The peer sent something the relay could not accept (oversized or invalid frame).
    Protocol = 1008,
    /// Reconnect class: no frame from the client within the idle timeout.
    NoPing = 4001,
    /// Reconnect class: the outgoing queue overflowed; recovery fills the gap.
    SlowConsumer = 4002,
    /// Reconnect class (with backoff): the client kept sending frames past its rate limit
    /// after being told with an `error:` packet.
    RateLimited = 4003,
    /// Terminal: the back end closed the tunnel (`DELETE /api/v1/tunnels/{id}`).
    ClosedByServer = 4501,
    /// Terminal: the session was revoked (logout, sessions deleted, user removed) or expired.
    SessionRevoked = 4502,
    /// Terminal: the user already has the maximum number of live devices.
    TooManyDevices = 4503,
    /// Reconnect class: no first frame within the handshake timeout.
    HandshakeTimeout = 4004,
    /// Terminal: too many failed `auth` frames for this user or from this address.
    TooManyFailures = 4504,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn class(self) -> CloseClass {
        match self.code() {
            4500.. => CloseClass::Terminal,
            _ => CloseClass::Reconnect,
        }
    }

    /// The code this relay uses for `code`, if it is one of ours.
    pub fn from_code(code: u16) -> Option<Self> {
        [
            Self::Normal,
            Self::Shutdown,
            Self::Protocol,
            Self::NoPing,
            Self::SlowConsumer,
            Self::RateLimited,
            Self::ClosedByServer,
            Self::SessionRevoked,
            Self::TooManyDevices,
            Self::HandshakeTimeout,
            Self::TooManyFailures,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// Class of a code received from the wire, including codes from other peers.
    pub fn class_of(code: u16) -> CloseClass {
        match code {
            4500..=4999 => CloseClass::Terminal,
            _ => CloseClass::Reconnect,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "closed",
            Self::Shutdown => "relay shutting down",
            Self::Protocol => "protocol error",
            Self::NoPing => "no frame within the idle timeout",
            Self::SlowConsumer => "slow consumer",
            Self::RateLimited => "too many frames",
            Self::ClosedByServer => "closed by the back end",
            Self::SessionRevoked => "session revoked",
            Self::TooManyDevices => "too many devices",
            Self::HandshakeTimeout => "no first frame within the handshake timeout",
            Self::TooManyFailures => "too many failed authentications",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(CloseCode::SlowConsumer.class(), CloseClass::Reconnect);
        assert_eq!(CloseCode::Shutdown.class(), CloseClass::Reconnect);
        assert_eq!(CloseCode::SessionRevoked.class(), CloseClass::Terminal);
        assert_eq!(CloseCode::class_of(4999), CloseClass::Terminal);
        assert_eq!(CloseCode::class_of(1006), CloseClass::Reconnect);
        assert_eq!(CloseCode::from_code(4002), Some(CloseCode::SlowConsumer));
        assert_eq!(CloseCode::from_code(1006), None);
    }
}
