//! What a `subscription(name, cb)` name selects, with CppComet's spellings:
//! `"pipe"`, `"pipe.event"`, `"msg"`, `"msg.event"`, `"#pipe"` (delivery reports of
//! `web_pipe_send` to `pipe`), and `""` (everything).

use cometa_protocol::native::PERSONAL;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every message of every stream (`""`, or a function alone).
    All,
    /// Messages of `channel` (`msg` is the personal stream), of one event when `event` is set.
    Stream {
        channel: String,
        event: Option<String>,
    },
    /// Delivery reports of publishes to `channel`.
    Reports { channel: String },
}

impl Filter {
    /// Splits at the first `.`: channel names cannot contain one, event names may.
    pub fn parse(name: &str) -> Filter {
        if name.is_empty() {
            return Filter::All;
        }
        if let Some(channel) = name.strip_prefix('#') {
            return Filter::Reports {
                channel: channel.to_owned(),
            };
        }
        let (channel, event) = match name.split_once('.') {
            Some((c, e)) => (c, Some(e.to_owned())),
            None => (name, None),
        };
        Filter::Stream {
            channel: channel.to_owned(),
            event,
        }
    }

    /// The channel the relay must be subscribed to for this filter, if any: the personal
    /// stream flows from `auth`, and reports and `All` need no subscription of their own.
    pub fn channel_to_subscribe(&self) -> Option<&str> {
        match self {
            Filter::Stream { channel, .. } if channel != PERSONAL => Some(channel),
            _ => None,
        }
    }

    /// Whether a message of `channel`/`event` goes to this filter.
    pub fn matches(&self, channel: &str, event: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Stream {
                channel: c,
                event: e,
            } => c == channel && e.as_deref().is_none_or(|e| e == event),
            Filter::Reports { .. } => false,
        }
    }

    /// Whether a delivery report of a publish to `channel` goes to this filter.
    pub fn matches_report(&self, channel: &str) -> bool {
        matches!(self, Filter::Reports { channel: c } if c == channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(c: &str, e: Option<&str>) -> Filter {
        Filter::Stream {
            channel: c.into(),
            event: e.map(Into::into),
        }
    }

    #[test]
    fn names() {
        assert_eq!(Filter::parse(""), Filter::All);
        assert_eq!(Filter::parse("web_chat"), stream("web_chat", None));
        assert_eq!(
            Filter::parse("web_chat.message"),
            stream("web_chat", Some("message"))
        );
        assert_eq!(Filter::parse("msg.a.b"), stream("msg", Some("a.b")));
        assert_eq!(
            Filter::parse("#web_chat"),
            Filter::Reports {
                channel: "web_chat".into()
            }
        );
    }

    #[test]
    fn what_needs_a_subscription() {
        assert_eq!(
            Filter::parse("web_chat.x").channel_to_subscribe(),
            Some("web_chat")
        );
        assert_eq!(Filter::parse("msg").channel_to_subscribe(), None);
        assert_eq!(Filter::parse("msg.x").channel_to_subscribe(), None);
        assert_eq!(Filter::parse("#web_chat").channel_to_subscribe(), None);
        assert_eq!(Filter::parse("").channel_to_subscribe(), None);
    }

    #[test]
    fn matching() {
        assert!(Filter::All.matches("web_a", "x"));
        assert!(stream("web_a", None).matches("web_a", "x"));
        assert!(stream("web_a", Some("x")).matches("web_a", "x"));
        assert!(!stream("web_a", Some("x")).matches("web_a", "y"));
        assert!(!stream("web_a", None).matches("web_b", "x"));
        let r = Filter::parse("#web_a");
        assert!(!r.matches("web_a", "x"));
        assert!(r.matches_report("web_a"));
        assert!(!Filter::All.matches_report("web_a"));
    }
}
