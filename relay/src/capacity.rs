//! How many sockets are open: TCP connections per client address (checked when one is
//! accepted, against `--max-connections-per-address`) and upgraded WebSockets in all (checked
//! at the upgrade, against `--max-connections`).
//!
//! Each open socket holds a permit that gives its place back when dropped, so a socket counts
//! exactly as long as it exists, whichever way it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::auth::ratelimit::address_key;

/// Open TCP connections per client address (IPv6 by /64).
pub struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection from an address.
pub struct AddressPermit {
    /// `None` when there is no cap (nothing to give back).
    held: Option<(Arc<PerAddress>, IpAddr)>,
}

impl PerAddress {
    /// `usize::MAX` means no cap.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::default(),
        })
    }

    /// A permit for one more connection from `ip`, or `None` when it already has `max`.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<AddressPermit> {
        if self.max == usize::MAX {
            return Some(AddressPermit { held: None });
        }
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressPermit {
            held: Some((self.clone(), key)),
        })
    }

    /// Connections open from `ip`'s address key.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&address_key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        let Some((table, key)) = &self.held else {
            return;
        };
        let mut open = table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(key);
            }
        }
    }
}

/// Upgraded WebSockets, authenticated or not, against `--max-connections`.
pub struct Sockets {
    max: usize,
    open: Arc<AtomicUsize>,
}

/// One upgraded socket's place; dropped when its task ends (or the upgrade never happens).
pub struct SocketSlot(Arc<AtomicUsize>);

impl Sockets {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A place for one more socket, or `None` at the limit.
    pub fn try_open(&self) -> Option<SocketSlot> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(SocketSlot(self.open.clone()))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_permits_are_given_back_on_drop() {
        let table = PerAddress::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let p1 = table.try_open(a);
        let p2 = table.try_open(a);
        assert!(p1.is_some() && p2.is_some());
        assert!(table.try_open(a).is_none(), "third from one address");
        assert!(table.try_open(b).is_some(), "another address");
        drop(p1);
        assert_eq!(table.open(a), 1);
        assert!(table.try_open(a).is_some());
        drop(p2);
        assert!(PerAddress::new(usize::MAX).try_open(a).is_some());
    }

    #[test]
    fn ipv6_neighbours_share_a_cap() {
        let table = PerAddress::new(1);
        let first = table.try_open("2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 16])));
        assert!(first.is_some());
        let neighbour = "2001:db8::ffff".parse().unwrap_or(IpAddr::from([0u8; 16]));
        assert!(table.try_open(neighbour).is_none());
    }

    #[test]
    fn sockets_count_until_dropped() {
        let s = Sockets::new(1);
        let slot = s.try_open();
        assert!(slot.is_some());
        assert!(s.try_open().is_none());
        drop(slot);
        assert_eq!(s.open(), 0);
        assert!(s.try_open().is_some());
    }
}
