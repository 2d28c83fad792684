//! A durable session's publishes ([`TunnelConfig::durable`]): each carries an idempotency key
//! (`mid`) and stays in the list, oldest first, until a reply names its id — sent again on
//! every new connection, and handed to the host to persist ([`Output::Persist`]) so a reload
//! sends it too ([`Session::restore`]). The relay stores a resend from the same sender to the
//! same channel once and answers it with the first one's seq. The list and its persisted form
//! (one body per line) are the durable tunnel's ([`crate::resend`]).
//!
//! [`TunnelConfig::durable`]: crate::TunnelConfig::durable

use cometa_protocol::native::code::LIMIT_EXCEEDED;

use super::{Pending, Session};
use crate::comet::wire::Body;
use crate::comet::{ERR_OUTBOX_OVERFLOW, Failure, Output};
use crate::json::Object;

impl Session {
    /// Turns keyed, kept publishes on or off for the publishes that follow (the SDK's
    /// `persist` option). Publishes already kept stay until answered: their keys make a
    /// resend safe.
    pub fn set_durable(&mut self, durable: bool) {
        self.link.config_mut().durable = durable;
    }

    /// Replaces the kept publishes with those of `persisted` (the host's copy of the last
    /// [`Output::Persist`] for this relay and user, e.g. after a reload); each gets a new id
    /// and keeps its key, and is sent when the next socket opens, so call it before `start`.
    /// Lines that are not keyed publish bodies are skipped. Does nothing unless durable.
    pub fn restore(&mut self, persisted: &str) {
        if !self.link.config().durable {
            return;
        }
        self.resend.clear();
        // Lines cut by hand, as the tunnel's `restore` does (module size).
        let mut rest = persisted;
        while !rest.is_empty() {
            let end = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
            // Trimmed: a body's last byte must be its `}`, where each send adds the id.
            let body = rest[..end].trim_ascii();
            rest = rest.get(end + 1..).unwrap_or_default();
            if let Some(tag) = target(body) {
                let id = self.id();
                self.keep(id, body.to_owned(), tag);
            }
        }
        self.persist();
    }

    /// The publishes kept (or queued) and not answered yet.
    pub fn unanswered(&self) -> usize {
        self.resend.len()
    }

    /// A durable publish: keyed, kept, persisted, and sent now when connected.
    pub(super) fn publish_kept(&mut self, id: u64, body: Body, channel: &str, event: &str) {
        let body = body.end();
        let tag = (channel.to_owned(), event.to_owned());
        if self.is_connected() {
            let frame = self.resend.frame(id, &body);
            self.send_request(id, publish(&tag), frame);
        }
        self.keep(id, body, tag);
        self.persist();
    }

    /// Keeps `body` under `id`; beyond `max_outbox` the oldest is dropped and reported.
    fn keep(&mut self, id: u64, body: String, tag: (String, String)) {
        let max = self.link.config().max_outbox.max(1);
        if self.resend.len() >= max
            && let Some((old, _, (channel, event))) = self.resend.take_oldest()
        {
            let failure = Failure::new(ERR_OUTBOX_OVERFLOW, "dropped: the offline queue is full");
            self.settle_failed(old, Pending::Publish { channel, event }, failure);
        }
        self.resend.push(id, body, tag, max);
    }

    /// On a new socket: every kept publish again, oldest first, under its id; later on the
    /// same socket, those not in flight (refused for the rate, [`Self::held`]).
    pub(super) fn resend_kept(&mut self) {
        self.resend_at = None;
        for i in 0..self.resend.len() {
            let Some((id, body, tag)) = self.resend.entries().get(i) else {
                break;
            };
            if self.pending.iter().any(|p| p.0 == *id) {
                continue;
            }
            let (id, frame, pending) = (*id, self.resend.frame(*id, body), publish(tag));
            self.send_request(id, pending, frame);
        }
    }

    /// A kept publish refused for the relay's publish rate (a burst of kept publishes sent
    /// on a new socket goes past `--publish-burst`): it stays kept, unreported, and goes
    /// again once a backoff window has let the relay's bucket refill; the relay stored none
    /// of it, so it is still stored once. The window is `backoff_base_ms`, doubled for each
    /// round refused in a row up to `backoff_cap_ms`, so a page over its rate does not retry
    /// at the base pace forever. Not jittered like reconnects: a short draw would only be
    /// refused again, and one page's resends are no herd. False for any other answer.
    pub(super) fn held(&mut self, now_ms: u64, id: u64, f: &Failure) -> bool {
        let held = f.code == u32::from(LIMIT_EXCEEDED) && self.resend.has(id);
        if held && self.resend_at.is_none() {
            let c = self.link.config();
            let wait = match self.refused_wait {
                0 => c.backoff_base_ms,
                w => w.saturating_mul(2),
            }
            .min(c.backoff_cap_ms);
            self.refused_wait = wait;
            self.resend_at = Some(now_ms + wait);
        }
        held
    }

    /// Sends the held publishes again once their backoff is over (on a new socket they all
    /// go anyway).
    pub(super) fn resend_refused(&mut self, now_ms: u64) {
        if self.resend_at.is_some_and(|at| at <= now_ms) && self.is_connected() {
            self.resend_kept();
        }
    }

    /// A reply for `id`: a kept publish leaves the list, answered or refused for good.
    pub(super) fn answered(&mut self, id: u64) {
        if self.resend.answered(id) {
            self.persist();
        }
    }

    pub(super) fn persist(&mut self) {
        self.out.push_back(Output::Persist(self.resend.persisted()));
    }
}

/// A stored body's channel and event (`None`: not a keyed publish body), scanned once on
/// restore and kept beside it.
fn target(body: &str) -> Option<(String, String)> {
    let o = Object::scan(body).ok()?;
    o.string("mid")?;
    Some((
        o.string("channel")?.into_owned(),
        o.string("event").unwrap_or_default().into_owned(),
    ))
}

/// The request a kept publish makes.
fn publish((channel, event): &(String, String)) -> Pending {
    Pending::Publish {
        channel: channel.clone(),
        event: event.clone(),
    }
}
