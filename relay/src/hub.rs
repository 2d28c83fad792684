//! The local registry of live tunnels: who is connected, and fan-out to them.
//!
//! Frames are encoded once by the caller and shared ([`Utf8Bytes`] clones are reference
//! counts). Every tunnel has a bounded queue; a tunnel whose queue is full is closed with a
//! reconnect-class code instead of slowing the sender or anyone else, and its device catches
//! up from its cursor when it comes back.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::CloseCode;
use tokio::sync::{Notify, mpsc};

/// What the hub hands a tunnel's writer.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A frame outside any stream (tunnel messages, broadcasts).
    Frame(Utf8Bytes),
    /// A message of the user's personal stream; the writer drops seqs it has already sent.
    Personal { seq: u64, frame: Utf8Bytes },
}

/// Asks one tunnel task to close, once, with a given code.
#[derive(Debug, Default)]
pub struct Closer {
    code: AtomicU16,
    notify: Notify,
}

impl Closer {
    /// The first code wins; later calls are ignored.
    pub fn close(&self, code: CloseCode) {
        if self
            .code
            .compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    pub async fn closed(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// The hub's view of one live tunnel.
#[derive(Debug, Clone)]
pub struct TunnelHandle {
    pub id: Arc<str>,
    pub user_id: Arc<str>,
    pub session_id: i64,
    pub tx: mpsc::Sender<Outbound>,
    pub closer: Arc<Closer>,
}

impl TunnelHandle {
    /// Queues without waiting; a full queue closes the tunnel as a slow consumer.
    fn offer(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(tunnel = %self.id, "outgoing queue full; closing slow consumer");
                self.closer.close(CloseCode::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    #[error("the user already has {0} live devices")]
    TooManyDevices(usize),
}

#[derive(Default)]
struct Registry {
    tunnels: HashMap<Arc<str>, TunnelHandle>,
    users: HashMap<Arc<str>, Vec<Arc<str>>>,
}

/// Publishes to one personal stream are serialised by one of these locks so that seqs reach
/// every tunnel in order; users are spread over the stripes by hash.
const STREAM_STRIPES: usize = 256;

pub struct Hub {
    registry: Mutex<Registry>,
    live: AtomicUsize,
    max_devices: usize,
    stripes: Vec<tokio::sync::Mutex<()>>,
    hasher: RandomState,
}

impl Hub {
    pub fn new(max_devices: usize) -> Self {
        Self {
            registry: Mutex::default(),
            live: AtomicUsize::new(0),
            max_devices,
            stripes: (0..STREAM_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock would be a bug in the hub's few lines; keep serving.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live tunnels on this relay.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn register(&self, handle: TunnelHandle) -> Result<(), HubError> {
        let mut reg = self.registry();
        let devices = reg.users.entry(handle.user_id.clone()).or_default();
        if devices.len() >= self.max_devices {
            return Err(HubError::TooManyDevices(devices.len()));
        }
        devices.push(handle.id.clone());
        reg.tunnels.insert(handle.id.clone(), handle);
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn unregister(&self, id: &str) {
        let mut reg = self.registry();
        let Some(handle) = reg.tunnels.remove(id) else {
            return;
        };
        self.live.fetch_sub(1, Ordering::Relaxed);
        if let Some(devices) = reg.users.get_mut(&handle.user_id) {
            devices.retain(|d| &**d != id);
            if devices.is_empty() {
                reg.users.remove(&handle.user_id);
            }
        }
    }

    pub fn devices(&self, user_id: &str) -> usize {
        self.registry().users.get(user_id).map_or(0, Vec::len)
    }

    /// Held while a personal message is stored and fanned out.
    pub async fn stream_lock(&self, user_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one(user_id) as usize) % STREAM_STRIPES;
        self.stripes[i].lock().await
    }

    /// Sends a personal message to every live tunnel of the user; returns how many took it.
    pub fn deliver_personal(&self, user_id: &str, seq: u64, frame: &Utf8Bytes) -> usize {
        let reg = self.registry();
        let Some(devices) = reg.users.get(user_id) else {
            return 0;
        };
        devices
            .iter()
            .filter_map(|id| reg.tunnels.get(id))
            .filter(|t| {
                t.offer(Outbound::Personal {
                    seq,
                    frame: frame.clone(),
                })
            })
            .count()
    }

    /// `None` when no such tunnel is live here.
    pub fn send_to_tunnel(&self, id: &str, frame: Utf8Bytes) -> Option<bool> {
        let reg = self.registry();
        reg.tunnels.get(id).map(|t| t.offer(Outbound::Frame(frame)))
    }

    /// To the listed tunnels, or to every live tunnel when `ids` is `None`. Returns how many
    /// took it and which listed ids are not live.
    pub fn broadcast(&self, ids: Option<&[String]>, frame: &Utf8Bytes) -> (usize, Vec<String>) {
        let reg = self.registry();
        let offer = |t: &TunnelHandle| t.offer(Outbound::Frame(frame.clone()));
        match ids {
            None => (
                reg.tunnels.values().filter(|t| offer(t)).count(),
                Vec::new(),
            ),
            Some(ids) => {
                let mut invalid = Vec::new();
                let mut delivered = 0;
                for id in ids {
                    match reg.tunnels.get(id.as_str()) {
                        Some(t) => delivered += usize::from(offer(t)),
                        None => invalid.push(id.clone()),
                    }
                }
                (delivered, invalid)
            }
        }
    }

    pub fn close_tunnel(&self, id: &str, code: CloseCode) -> bool {
        let reg = self.registry();
        reg.tunnels.get(id).map(|t| t.closer.close(code)).is_some()
    }

    /// Closes the user's tunnels, or only those of one session; returns how many.
    pub fn close_user(&self, user_id: &str, session_id: Option<i64>, code: CloseCode) -> usize {
        let reg = self.registry();
        let Some(devices) = reg.users.get(user_id) else {
            return 0;
        };
        devices
            .iter()
            .filter_map(|id| reg.tunnels.get(id))
            .filter(|t| session_id.is_none_or(|s| s == t.session_id))
            .inspect(|t| t.closer.close(code))
            .count()
    }

    pub fn close_all(&self, code: CloseCode) {
        for t in self.registry().tunnels.values() {
            t.closer.close(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: &str, user: &str, queue: usize) -> (TunnelHandle, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(queue);
        let h = TunnelHandle {
            id: id.into(),
            user_id: user.into(),
            session_id: 1,
            tx,
            closer: Arc::default(),
        };
        (h, rx)
    }

    #[tokio::test]
    async fn device_cap_and_fan_out() {
        let hub = Hub::new(2);
        let (a, mut ra) = handle("a", "u", 4);
        let (b, mut rb) = handle("b", "u", 4);
        let (c, _rc) = handle("c", "u", 4);
        assert!(hub.register(a).is_ok());
        assert!(hub.register(b).is_ok());
        assert_eq!(hub.register(c), Err(HubError::TooManyDevices(2)));
        assert_eq!(
            hub.deliver_personal("u", 7, &Utf8Bytes::from_static("m")),
            2
        );
        assert!(matches!(
            ra.recv().await,
            Some(Outbound::Personal { seq: 7, .. })
        ));
        assert!(matches!(
            rb.recv().await,
            Some(Outbound::Personal { seq: 7, .. })
        ));
        hub.unregister("a");
        assert_eq!(hub.devices("u"), 1);
        assert_eq!(hub.live(), 1);
    }

    #[tokio::test]
    async fn full_queue_closes_only_the_slow_tunnel() {
        let hub = Hub::new(16);
        let (slow, _keep) = handle("slow", "u", 1);
        let (fast, mut rf) = handle("fast", "v", 8);
        let slow_closer = slow.closer.clone();
        assert!(hub.register(slow).is_ok());
        assert!(hub.register(fast).is_ok());
        let f = Utf8Bytes::from_static("x");
        assert_eq!(hub.broadcast(None, &f).0, 2);
        assert_eq!(hub.broadcast(None, &f).0, 1);
        assert_eq!(slow_closer.closed().await, CloseCode::SlowConsumer.code());
        assert!(rf.recv().await.is_some() && rf.recv().await.is_some());
        let (n, invalid) = hub.broadcast(Some(&["fast".into(), "nope".into()]), &f);
        assert_eq!((n, invalid), (1, vec!["nope".to_string()]));
    }
}
