//! Per-channel retention: the longest matching prefix setting, else the configured default.
//! A history length of 0 makes a channel live-only: nothing stored, no seqs, no recovery.
//! Kept in memory (settings change rarely and are read on every publish) and written through
//! to the store.

use std::sync::RwLock;

use cometa_protocol::native::ChannelKind;

use crate::store::Retention;

pub struct ChannelPolicy {
    default: Retention,
    /// Sorted by prefix length, longest first.
    settings: RwLock<Vec<(String, Retention)>>,
}

impl ChannelPolicy {
    pub fn new(default: Retention, mut settings: Vec<(String, Retention)>) -> Self {
        settings.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Self {
            default,
            settings: RwLock::new(settings),
        }
    }

    pub fn retention(&self, channel: &str) -> Retention {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        settings
            .iter()
            .find(|(p, _)| channel.starts_with(p.as_str()))
            .map_or(self.default, |(_, r)| *r)
    }

    /// Whether a channel's messages are stored (with seqs, history and recovery) or only
    /// pushed live: kinds that never are, and prefixes set to keep no history.
    pub fn stored(&self, channel: &str) -> bool {
        ChannelKind::of(channel).is_stored() && self.retention(channel).max_len > 0
    }

    pub fn set(&self, prefix: &str, r: Retention) {
        let mut settings = self.settings.write().unwrap_or_else(|p| p.into_inner());
        settings.retain(|(p, _)| p != prefix);
        settings.push((prefix.to_string(), r));
        settings.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    pub fn remove(&self, prefix: &str) {
        let mut settings = self.settings.write().unwrap_or_else(|p| p.into_inner());
        settings.retain(|(p, _)| p != prefix);
    }

    pub fn list(&self) -> Vec<(String, Retention)> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64) -> Retention {
        Retention {
            max_len: n,
            max_age_secs: n,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let p = ChannelPolicy::new(r(1), vec![("web_".into(), r(2))]);
        p.set("web_chat", r(3));
        assert_eq!(p.retention("news").max_len, 1);
        assert_eq!(p.retention("web_x").max_len, 2);
        assert_eq!(p.retention("web_chat_1").max_len, 3);
        p.remove("web_chat");
        assert_eq!(p.retention("web_chat_1").max_len, 2);
    }
}
