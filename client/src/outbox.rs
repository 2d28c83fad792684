//! Packets emitted before the tunnel is active, flushed in order when a socket opens.
//!
//! Wafer's queue was unbounded: a page that emits on a timer while offline for hours grows it
//! without limit. Ours keeps the newest `max` packets, since after a long outage the latest
//! state matters more than the oldest, and reports the loss once per outage, not once per
//! dropped packet, so an error handler is not flooded.

use crate::queue::Queue;

#[derive(Debug)]
pub(crate) struct Outbox {
    packets: Queue<String>,
    max: usize,
    /// Set after the first drop since the last flush; keeps the report to one per outage.
    overflowed: bool,
}

impl Outbox {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            packets: Queue::default(),
            max,
            overflowed: false,
        }
    }

    /// Queues `packet`, dropping the oldest if full. Returns `true` when this is the first drop
    /// since the last [`Outbox::drain`], i.e. when the caller should report the overflow.
    pub(crate) fn push(&mut self, packet: String) -> bool {
        if self.max == 0 {
            return self.note_overflow();
        }
        let mut dropped = false;
        while self.packets.len() >= self.max {
            self.packets.pop_front();
            dropped = true;
        }
        self.packets.push_back(packet);
        dropped && self.note_overflow()
    }

    fn note_overflow(&mut self) -> bool {
        let first = !self.overflowed;
        self.overflowed = true;
        first
    }

    /// Takes every queued packet, oldest first, and re-enables the overflow report.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = String> + use<> {
        self.overflowed = false;
        self.packets.take()
    }

    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order() {
        let mut o = Outbox::new(10);
        for i in 0..3 {
            assert!(!o.push(format!("p{i}")));
        }
        assert_eq!(o.len(), 3);
        let all: Vec<String> = o.drain().collect();
        assert_eq!(all, ["p0", "p1", "p2"]);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn overflow_drops_oldest_and_reports_once_per_outage() {
        let mut o = Outbox::new(2);
        assert!(!o.push("a".into()));
        assert!(!o.push("b".into()));
        assert!(o.push("c".into()));
        assert!(!o.push("d".into()));
        let all: Vec<String> = o.drain().collect();
        assert_eq!(all, ["c", "d"]);
        // A later outage is reported again.
        assert!(!o.push("e".into()));
        assert!(!o.push("f".into()));
        assert!(o.push("g".into()));
    }

    #[test]
    fn zero_capacity_queues_nothing() {
        let mut o = Outbox::new(0);
        assert!(o.push("a".into()));
        assert!(!o.push("b".into()));
        assert_eq!(o.len(), 0);
    }
}
