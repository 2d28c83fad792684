//! What the relay sends on an open connection: replies matched to their requests, and
//! publications checked against the stream positions (the "never twice" rule).

use cometa_protocol::native::{self, PERSONAL};

use super::{Pending, Session};
use crate::comet::wire::{Reply, StreamState};
use crate::comet::{Identity, Output, Position};
use crate::json::{Object, push_dec};

impl Session {
    pub(super) fn on_reply(&mut self, now_ms: u64, body: &str) {
        let Some(reply) = Reply::scan(body) else {
            return;
        };
        let Some(at) = self.pending.iter().position(|(id, _)| *id == reply.id) else {
            return;
        };
        let (id, pending) = self.pending.remove(at);
        match (pending, reply.outcome) {
            (Pending::Auth, Ok(result)) => self.on_auth(result),
            (Pending::Auth, Err(f)) => self.out.push_back(Output::Auth(Err(f))),
            (Pending::Subscribe(channel), Ok(result)) => self.on_subscribed(&channel, result),
            (Pending::Subscribe(channel), Err(failure)) => {
                self.out.push_back(Output::Refused { channel, failure })
            }
            (Pending::Publish { .. }, Err(f)) if self.held(now_ms, id, &f) => {}
            (Pending::Publish { channel, event }, outcome) => {
                // Taken: the relay's rate has room again, a refusal waits the base window.
                if outcome.is_ok() {
                    self.refused_wait = 0;
                }
                self.answered(id);
                let outcome = outcome.map(|r| Object::scan(r).ok().and_then(|o| o.u64("seq")));
                self.out.push_back(Output::Report {
                    channel,
                    event,
                    outcome,
                });
            }
            (Pending::Query(_), outcome) => self.out.push_back(Output::Reply {
                id,
                outcome: outcome.map(str::to_owned),
            }),
            (Pending::Unsubscribe, _) => {}
        }
    }

    fn on_auth(&mut self, result: &str) {
        let Ok(o) = Object::scan(result) else { return };
        let identity = Identity {
            user_id: o.string("user_id").unwrap_or_default().into_owned(),
            device: o.string("device").unwrap_or_default().into_owned(),
        };
        self.authorized = true;
        if let Some(state) = o.raw("personal").and_then(StreamState::scan) {
            let s = &mut self.personal;
            s.confirmed = true;
            // The replay that follows the reply starts after our `since` in the same epoch,
            // or from the relay's cursor for this device otherwise: never skip ahead to the
            // reply's top here, or that replay would be taken for duplicates.
            let position = match s.position.take() {
                Some(p) if p.epoch == state.position.epoch => p,
                _ => Position {
                    seq: 0,
                    epoch: state.position.epoch.clone(),
                },
            };
            s.position = Some(position.clone());
            let gap = !state.recovered && s.since_sent;
            self.save(PERSONAL, &position);
            if gap {
                self.out.push_back(Output::Gap {
                    stream: PERSONAL.to_owned(),
                    position,
                });
            }
        }
        self.out.push_back(Output::Auth(Ok(identity)));
    }

    fn on_subscribed(&mut self, channel: &str, result: &str) {
        let Some(state) = StreamState::scan(result) else {
            return;
        };
        let Some(s) = self.stream_mut(channel) else {
            return;
        };
        s.confirmed = true;
        if state.position.epoch.is_empty() {
            // A live-only channel: no seqs, nothing to resume.
            return;
        }
        let resumed = state.recovered && s.since_sent;
        if resumed {
            // The missed messages follow this reply; the position moves as they arrive.
            return;
        }
        s.position = Some(state.position.clone());
        let gap = s.since_sent && !state.recovered;
        self.save(channel, &state.position);
        if gap {
            self.out.push_back(Output::Gap {
                stream: channel.to_owned(),
                position: state.position,
            });
        }
    }

    /// Only the channel and seq are read here: the rest is the host's to read (one copy of
    /// the body instead of three of its members: module size).
    pub(super) fn on_pub(&mut self, body: &str) {
        let Ok(o) = Object::scan(body) else {
            return;
        };
        let Some(channel) = o.string("channel") else {
            return;
        };
        let seq = o.u64("seq");
        let personal = channel == PERSONAL;
        let Some(s) = self.stream_mut(&channel) else {
            // Unsubscribed meanwhile.
            return;
        };
        let mut epoch = None;
        let mut save = None;
        if let (Some(seq), true, Some(pos)) = (seq, s.confirmed, &mut s.position) {
            if seq <= pos.seq {
                return; // Already handed to the page: never twice.
            }
            pos.seq = seq;
            epoch = Some(pos.epoch.clone());
            save = Some(pos.clone());
        }
        let channel = channel.into_owned();
        self.out.push_back(Output::Deliver {
            channel: channel.clone(),
            seq,
            json: body.to_owned(),
            epoch,
        });
        if let Some(pos) = save {
            let seq = pos.seq;
            self.save(&channel, &pos);
            if personal {
                let mut ack = String::from(native::ACK);
                ack.push_str(r#":{"seq":"#);
                push_dec(&mut ack, seq);
                ack.push('}');
                self.out.push_back(Output::Send(ack));
            }
        }
    }

    fn save(&mut self, stream: &str, position: &Position) {
        self.out.push_back(Output::Save {
            stream: stream.to_owned(),
            position: position.clone(),
        });
    }
}
