//! Delivery bookkeeping for one stream as one receiver sees it. Seqs of a stream are
//! contiguous and must arrive in order, each once, from where the receiver resumed: a seq at
//! or below the last one is a duplicate, a jump is a loss, and so is a receiver that ends
//! below the stream's top or whose resume the relay could not honour.

use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// The epoch the receiver's position is in; empty until the first subscribe or auth.
    pub epoch: String,
    /// The last seq received (or the top at the first subscribe).
    pub last: u64,
    pub received: u64,
    pub duplicates: u64,
    pub lost: u64,
    /// Resumes the relay answered with `recovered: false` (or another epoch).
    pub unrecovered: u64,
    /// Sockets that ended without the receiver closing them (it should have stayed).
    pub dropped: u64,
}

pub type Shared = Arc<Mutex<Ledger>>;

pub fn shared() -> Shared {
    Arc::new(Mutex::new(Ledger::default()))
}

pub fn lock(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    /// The position to resume from, once there is one.
    pub fn position(&self) -> Option<(u64, String)> {
        (!self.epoch.is_empty()).then(|| (self.last, self.epoch.clone()))
    }

    /// The relay's answer to a subscribe or auth: its epoch, top and whether the resume held.
    pub fn resumed(&mut self, epoch: &str, top: u64, recovered: bool) {
        if self.epoch.is_empty() {
            // First contact: what was published before is not this receiver's.
            self.epoch = epoch.to_owned();
            self.last = top;
            return;
        }
        if !recovered || epoch != self.epoch {
            self.unrecovered += 1;
            self.epoch = epoch.to_owned();
        }
    }

    pub fn deliver(&mut self, seq: u64) {
        if seq <= self.last {
            self.duplicates += 1;
            return;
        }
        self.lost += seq - self.last - 1;
        self.last = seq;
        self.received += 1;
    }

    /// Counts what never came, once publishing stopped at `top`.
    pub fn finish(&mut self, top: u64) {
        if top > self.last {
            self.lost += top - self.last;
            self.last = top;
        }
    }
}

/// Totals over many ledgers.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Totals {
    pub receivers: u64,
    pub received: u64,
    pub duplicates: u64,
    pub lost: u64,
    pub unrecovered: u64,
    pub dropped: u64,
}

impl Totals {
    pub fn add(&mut self, l: &Ledger) {
        self.receivers += 1;
        self.received += l.received;
        self.duplicates += l.duplicates;
        self.lost += l.lost;
        self.unrecovered += l.unrecovered;
        self.dropped += l.dropped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_jumps_repeats_and_a_short_end() {
        let mut l = Ledger::default();
        l.resumed("e1", 3, true);
        for s in [4, 5, 5, 8, 6, 9] {
            l.deliver(s);
        }
        l.finish(11);
        assert_eq!((l.received, l.duplicates, l.lost), (4, 2, 4));
        l.resumed("e2", 11, true);
        assert_eq!(l.unrecovered, 1);
        assert_eq!(l.position(), Some((11, "e2".into())));
    }
}
