//! The native dialect: packet types added on the same `type:json` framing (see README.md).
//!
//! Requests carry an `id` chosen by the client; the relay answers each with one `reply`
//! carrying the same `id` and either `result` or `error`. Stream positions are
//! `{seq, epoch}`: `seq` grows by one per message of a stream; `epoch` changes when the
//! relay lost a stream's data, so a position from another epoch cannot be resumed.

/// Client → relay: authenticate (`user_id` + `user_key`, `token`, or `skey`; none = anonymous).
pub const AUTH: &str = "auth";
/// Client → relay: subscribe to a channel, optionally resuming from a position.
pub const SUBSCRIBE: &str = "subscribe";
pub const UNSUBSCRIBE: &str = "unsubscribe";
/// Client → relay: publish to a channel the client may write to.
pub const PUBLISH: &str = "publish";
/// Client → relay: a channel's kept messages.
pub const HISTORY: &str = "history";
/// Client → relay: who is on a channel.
pub const PRESENCE: &str = "presence";
/// Client → relay: the device has handled its personal stream up to `seq`.
pub const ACK: &str = "ack";
/// Client → relay: a user's public profile data (`users_data`, set by the back end).
pub const USER_DATA: &str = "user_data";
/// Relay → client: the answer to a request.
pub const REPLY: &str = "reply";
/// Relay → client: a message on a subscribed channel or the personal stream (`msg`).
pub const PUB: &str = "pub";
/// Relay → client: something the client sent could not be accepted.
pub const ERROR: &str = "error";

/// The personal stream's channel name.
pub const PERSONAL: &str = "msg";
/// Server information and errors.
pub const SYS: &str = "sys";

/// Error codes in `reply` errors and `error` packets.
pub mod code {
    pub const BAD_PACKET: u16 = 4000;
    pub const UNKNOWN_PACKET: u16 = 4001;
    pub const BINARY: u16 = 4002;
    pub const BAD_REQUEST: u16 = 4003;
    pub const UNAUTHORIZED: u16 = 4004;
    pub const PERMISSION_DENIED: u16 = 4005;
    pub const LIMIT_EXCEEDED: u16 = 4006;
    pub const ALREADY_AUTHENTICATED: u16 = 4007;
    /// An acknowledged tunnel `message` that nobody can receive (no webhook configured).
    pub const NO_RECEIVER: u16 = 4008;
    pub const INTERNAL: u16 = 4500;
}

/// What a channel name says about who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `msg`: the caller's own personal stream.
    Personal,
    /// `web_*`: any client may publish; the relay stamps the sender's user id.
    Web,
    /// `webauth_*`: authenticated clients may publish.
    WebAuth,
    /// `@web_*`: anyone may publish, and the sender stays anonymous.
    AnonymousWeb,
    /// `track_*`: `subscription`/`unsubscription` events and a member list of authenticated subscribers.
    Track,
    /// `user_status_<id>`: `online`/`offline` of one user.
    UserStatus,
    /// `private_*`: only authenticated clients may subscribe.
    Private,
    /// `sys`: server information and errors.
    Sys,
    /// Anything else: subscribe freely, publish only from the back end.
    Plain,
}

impl ChannelKind {
    pub fn of(name: &str) -> Self {
        match name {
            PERSONAL => Self::Personal,
            SYS => Self::Sys,
            n if n.starts_with("@web_") => Self::AnonymousWeb,
            n if n.starts_with("webauth_") => Self::WebAuth,
            n if n.starts_with("web_") => Self::Web,
            n if n.starts_with("track_") => Self::Track,
            n if n.starts_with("user_status_") => Self::UserStatus,
            n if n.starts_with("private_") => Self::Private,
            _ => Self::Plain,
        }
    }

    /// Whether a client (not the back end) may publish here.
    pub fn client_may_publish(self, authenticated: bool) -> bool {
        match self {
            Self::Web | Self::AnonymousWeb => true,
            Self::WebAuth => authenticated,
            _ => false,
        }
    }

    pub fn may_subscribe(self, authenticated: bool) -> bool {
        match self {
            Self::Private | Self::Personal => authenticated,
            _ => true,
        }
    }

    /// Streams whose messages are kept (history and recovery); the others are live only.
    pub fn is_stored(self) -> bool {
        !matches!(self, Self::UserStatus | Self::Sys)
    }
}

pub const MAX_CHANNEL_LEN: usize = 128;

/// Channel names: 1–128 bytes of letters, digits, `_` and `-`, with `@` allowed only as the
/// first character (for `@web_*`). No dots: `pipe.event` names a subscription to one event.
pub fn check_channel(name: &str) -> Result<(), crate::names::NameError> {
    use crate::names::NameError;
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_CHANNEL_LEN {
        return Err(NameError::TooLong {
            max: MAX_CHANNEL_LEN,
        });
    }
    let body = name.strip_prefix('@').unwrap_or(name);
    match body
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        Some(c) => Err(NameError::BadChar(c)),
        None if body.is_empty() => Err(NameError::Empty),
        None => Ok(()),
    }
}

/// `"pipe.event"` → `("pipe", Some("event"))`, as in CometServer's `subscription()`.
pub fn split_subscription(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((pipe, event)) if !pipe.is_empty() && !event.is_empty() => (pipe, Some(event)),
        _ => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(ChannelKind::of("msg"), ChannelKind::Personal);
        assert_eq!(ChannelKind::of("web_chat"), ChannelKind::Web);
        assert_eq!(ChannelKind::of("webauth_x"), ChannelKind::WebAuth);
        assert_eq!(ChannelKind::of("@web_x"), ChannelKind::AnonymousWeb);
        assert_eq!(ChannelKind::of("track_online"), ChannelKind::Track);
        assert_eq!(ChannelKind::of("user_status_42"), ChannelKind::UserStatus);
        assert_eq!(ChannelKind::of("private_7"), ChannelKind::Private);
        assert_eq!(ChannelKind::of("news"), ChannelKind::Plain);
        assert!(ChannelKind::Web.client_may_publish(false));
        assert!(!ChannelKind::WebAuth.client_may_publish(false));
        assert!(ChannelKind::WebAuth.client_may_publish(true));
        assert!(!ChannelKind::Plain.client_may_publish(true));
        assert!(!ChannelKind::Private.may_subscribe(false));
    }

    #[test]
    fn channel_names() {
        assert!(check_channel("web_chat-room_1").is_ok());
        assert!(check_channel("web_chat.x").is_err());
        assert!(check_channel("@web_x").is_ok());
        assert!(check_channel("a@b").is_err());
        assert!(check_channel("@").is_err());
        assert!(check_channel("").is_err());
        assert!(check_channel(&"x".repeat(129)).is_err());
    }

    #[test]
    fn subscription_names() {
        assert_eq!(
            split_subscription("web_chat.message"),
            ("web_chat", Some("message"))
        );
        assert_eq!(split_subscription("msg"), ("msg", None));
        assert_eq!(split_subscription("a.b.c"), ("a.b", Some("c")));
        assert_eq!(split_subscription(".x"), (".x", None));
    }
}
