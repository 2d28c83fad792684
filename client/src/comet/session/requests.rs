//! Requests and their fate: sent at once when connected, queued (bounded) when not, re-sent
//! or settled with an error when the connection goes away before the reply.

use super::{Pending, Session};
use crate::comet::{ERR_OUTBOX_OVERFLOW, ERR_UNKNOWN_OUTCOME, Failure, Output};

impl Session {
    /// Requests in flight on a lost socket: reads go back to the front of the queue in their
    /// order; publishes are reported with an unknown outcome; the rest is redone on connect.
    pub(super) fn requeue_reads(&mut self) {
        for (id, pending) in std::mem::take(&mut self.pending).into_iter().rev() {
            match pending {
                Pending::Query(frame) => {
                    let again = Pending::Query(frame.clone());
                    self.outbox.push_front((id, again, frame));
                }
                // A kept publish goes again on the next socket, with its key.
                Pending::Publish { .. } if self.resend.has(id) => {}
                // A publish is reported; the rest has nothing to settle.
                other => self.settle_failed(
                    id,
                    other,
                    Failure::new(
                        ERR_UNKNOWN_OUTCOME,
                        "the connection was lost before the relay answered",
                    ),
                ),
            }
        }
    }

    /// Settles every request, queued or in flight, with an error; kept publishes stay for
    /// the next `start` (they are in storage anyway).
    pub(super) fn fail_pending(&mut self, code: u32, message: &str) {
        // In flight first, then queued; two plain loops rather than a chained iterator
        // collected into a `Vec` (module size).
        for (id, pending) in std::mem::take(&mut self.pending) {
            if !self.resend.has(id) {
                self.settle_failed(id, pending, Failure::new(code, message));
            }
        }
        for (id, pending, _) in self.outbox.take() {
            if self.resend.has(id) {
                continue;
            }
            self.settle_failed(id, pending, Failure::new(code, message));
        }
    }

    pub(super) fn settle_failed(&mut self, id: u64, pending: Pending, failure: Failure) {
        match pending {
            Pending::Query(_) => self.out.push_back(Output::Reply {
                id,
                outcome: Err(failure),
            }),
            Pending::Publish { channel, event } => self.out.push_back(Output::Report {
                channel,
                event,
                outcome: Err(failure),
            }),
            Pending::Auth | Pending::Subscribe(_) | Pending::Unsubscribe => {}
        }
    }

    pub(super) fn query(&mut self, id: u64, frame: String) -> u64 {
        self.request(id, Pending::Query(frame.clone()), frame);
        id
    }

    /// Sends now when connected, else queues (bounded: the oldest request is dropped and
    /// settled with an error).
    pub(super) fn request(&mut self, id: u64, pending: Pending, frame: String) {
        if self.is_connected() {
            self.send_request(id, pending, frame);
            return;
        }
        if self.link.config().max_outbox == 0 {
            let failure = Failure::new(ERR_OUTBOX_OVERFLOW, "no queue while offline");
            return self.settle_failed(id, pending, failure);
        }
        while self.outbox.len() >= self.link.config().max_outbox {
            if let Some((old, p, _)) = self.outbox.pop_front() {
                let failure =
                    Failure::new(ERR_OUTBOX_OVERFLOW, "dropped: the offline queue is full");
                self.settle_failed(old, p, failure);
            }
        }
        self.outbox.push_back((id, pending, frame));
    }

    pub(super) fn send_request(&mut self, id: u64, pending: Pending, frame: String) {
        self.pending.push((id, pending));
        self.out.push_back(Output::Send(frame));
    }
}
