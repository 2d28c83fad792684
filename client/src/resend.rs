//! Emits the relay has not answered yet, for a durable tunnel ([`TunnelConfig::durable`]),
//! and likewise a durable [`Session`](crate::comet::Session)'s publishes (`publish:` packets
//! instead of `message:`; the relay deduplicates a publish's `mid` per sender and channel).
//!
//! Each carries an idempotency key (`mid`) and stays here, oldest first, until a `reply` with
//! its id arrives: a socket lost before that sends it again on the next one, and the host
//! keeps the list in storage ([`Action::Persist`]) so a reload sends it too. The relay hands a
//! user's `mid` to the back end once, so resending is safe. Ids are per page (`reply` ids);
//! keys are what survives.
//!
//! The persisted form is the message bodies (`{"type","content","mid"}`) one per line: JSON
//! text from `JSON.stringify` or [`crate::json`] never holds a raw line break.
//!
//! [`TunnelConfig::durable`]: crate::TunnelConfig::durable
//! [`Action::Persist`]: crate::Action::Persist

use crate::json::push_dec;

/// `T` is what the owner keeps beside each body (a publish's channel and event), so it
/// never scans a kept body again; each wasm module holds one `T`.
#[derive(Debug)]
pub(crate) struct Resend<T = ()> {
    /// The packet type the bodies are sent as.
    kind: &'static str,
    /// `(reply id, body, tag)`, oldest first. A `Vec`, not a `VecDeque`: a few entries, and
    /// the deque's ring copies cost the wasm module more than the shifts cost here.
    entries: Vec<(u64, String, T)>,
}

impl Default for Resend {
    fn default() -> Self {
        Self::new("message")
    }
}

impl<T> Resend<T> {
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            entries: Vec::new(),
        }
    }

    /// Keeps `body` (and `tag`) under `id`, dropping the oldest beyond `max`; true when one
    /// was dropped.
    pub(crate) fn push(&mut self, id: u64, body: String, tag: T, max: usize) -> bool {
        let mut dropped = false;
        while !self.entries.is_empty() && self.entries.len() >= max {
            self.entries.remove(0);
            dropped = true;
        }
        if max > 0 {
            self.entries.push((id, body, tag));
        }
        dropped || max == 0
    }

    /// Forgets the entry answered by `id`; false when there was none.
    pub(crate) fn answered(&mut self, id: u64) -> bool {
        match self.entries.iter().position(|e| e.0 == id) {
            Some(at) => {
                self.entries.remove(at);
                true
            }
            None => false,
        }
    }

    /// Every entry as the packet to send, oldest first.
    pub(crate) fn frames(&self) -> impl Iterator<Item = String> + '_ {
        self.entries
            .iter()
            .map(|(id, body, _)| packet(self.kind, *id, body))
    }

    /// The packet that sends `body` under `id`.
    pub(crate) fn frame(&self, id: u64, body: &str) -> String {
        packet(self.kind, id, body)
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> &[(u64, String, T)] {
        &self.entries
    }

    /// Takes the oldest entry out.
    pub(crate) fn take_oldest(&mut self) -> Option<(u64, String, T)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    pub(crate) fn has(&self, id: u64) -> bool {
        self.entries.iter().any(|e| e.0 == id)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The persisted form: one body per line; empty when nothing is unanswered.
    pub(crate) fn persisted(&self) -> String {
        let mut out = String::new();
        for (_, body, _) in &self.entries {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(body);
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// `kind:{…,"id":N}` from a body `{…}`.
fn packet(kind: &str, id: u64, body: &str) -> String {
    // Bodies end with `}` (made here, or checked by `restore`); no char pattern: module size.
    let open = body.get(..body.len().saturating_sub(1)).unwrap_or_default();
    let mut out = String::with_capacity(body.len() + 32);
    out.push_str(kind);
    out.push(':');
    out.push_str(open);
    out.push_str(",\"id\":");
    push_dec(&mut out, id);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_answered_in_order() {
        let mut r = Resend::default();
        assert!(!r.push(1, r#"{"type":"a","mid":"x"}"#.into(), (), 10));
        assert!(!r.push(2, r#"{"type":"b","mid":"y"}"#.into(), (), 10));
        let frames: Vec<String> = r.frames().collect();
        assert_eq!(
            frames,
            [
                r#"message:{"type":"a","mid":"x","id":1}"#,
                r#"message:{"type":"b","mid":"y","id":2}"#
            ]
        );
        assert_eq!(
            r.persisted(),
            "{\"type\":\"a\",\"mid\":\"x\"}\n{\"type\":\"b\",\"mid\":\"y\"}"
        );
        assert!(r.answered(1));
        assert!(!r.answered(1));
        assert_eq!(r.len(), 1);
        assert!(r.answered(2));
        assert_eq!(r.persisted(), "");
    }

    #[test]
    fn bounded_oldest_dropped() {
        let mut r = Resend::default();
        assert!(!r.push(1, "{}".into(), (), 2));
        assert!(!r.push(2, "{}".into(), (), 2));
        assert!(r.push(3, "{}".into(), (), 2));
        assert_eq!(r.len(), 2);
        assert!(!r.answered(1));
        assert!(r.push(4, "{}".into(), (), 0), "nothing kept at 0");
    }

    #[test]
    fn publishes_sent_as_their_kind() {
        let mut r = Resend::new("publish");
        r.push(4, r#"{"mid":"k","channel":"web_a"}"#.into(), 'a', 10);
        r.push(5, r#"{"mid":"l","channel":"web_a"}"#.into(), 'b', 10);
        assert_eq!(
            r.frame(4, &r.entries()[0].1),
            r#"publish:{"mid":"k","channel":"web_a","id":4}"#
        );
        assert_eq!(r.frames().count(), 2);
        assert!(r.has(5) && !r.has(6));
        assert_eq!(r.take_oldest().map(|e| (e.0, e.2)), Some((4, 'a')));
        r.clear();
        assert_eq!(r.len(), 0);
    }
}
