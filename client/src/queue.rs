//! [`Queue`]: the core's first-in first-out lists (actions, events, commands, outputs, the
//! offline outboxes), one small type over a `Vec`.
//!
//! `VecDeque` would be the textbook choice, but every element type instantiates its ring
//! buffer again (`push_back`, `grow`, `pop_front`, its `Drop` with two slices): about 0.3 KB
//! of the wasm SDK module per type. A `Vec` shares its growth code between all of them, and
//! these lists hold a handful of entries between two drains by the host, so shifting them
//! on `pop_front` costs nothing that matters. Long lists (an outbox after an outage) are
//! taken whole with [`Queue::take`] rather than popped one by one.

#[derive(Debug)]
pub(crate) struct Queue<T>(Vec<T>);

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Queue<T> {
    /// Empty; `const` for a host's statics initialised in place.
    pub(crate) const fn new() -> Self {
        Self(Vec::new())
    }

    pub(crate) fn push_back(&mut self, item: T) {
        self.0.push(item);
    }

    pub(crate) fn push_front(&mut self, item: T) {
        self.0.insert(0, item);
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every entry, oldest first, leaving the queue empty.
    pub(crate) fn take(&mut self) -> std::vec::IntoIter<T> {
        std::mem::take(&mut self.0).into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out() {
        let mut q = Queue::default();
        q.push_back(1);
        q.push_back(2);
        q.push_front(0);
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop_front(), Some(0));
        q.push_back(3);
        assert_eq!(q.take().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(q.pop_front(), None);
    }
}
