//! The local registry of live connections: who is connected, what they subscribe to, and
//! fan-out to them.
//!
//! Frames are encoded once by the caller and shared ([`Utf8Bytes`] clones are reference
//! counts). Every connection has a bounded queue; one whose queue is full is closed with a
//! reconnect-class code instead of slowing the sender or anyone else, and its device catches
//! up from its stream positions when it comes back.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::CloseCode;

pub use crate::frames::{Dialect, PersonalFrame};
use crate::outbox::{Offer, PERSONAL};
pub use crate::outbox::{Outbound, Outbox};
pub use sessions::SessionLink;

mod sessions;

/// The hub's view of one live connection.
#[derive(Debug, Clone)]
pub struct Handle {
    pub id: Arc<str>,
    /// `None` for anonymous connections, which get no personal stream.
    pub user_id: Option<Arc<str>>,
    /// The session the connection was opened with (a Wafer tunnel's, or a native `skey`'s);
    /// the connection ends with it.
    pub session: Option<SessionLink>,
    /// The shape its stream messages are sent in.
    pub dialect: Dialect,
    pub outbox: Arc<Outbox>,
}

impl Handle {
    fn offer(&self, out: Outbound) -> bool {
        offer(&self.id, &self.outbox, out)
    }
}

/// Queues without waiting; a full queue closes the connection as a slow consumer.
fn offer(id: &str, outbox: &Outbox, out: Outbound) -> bool {
    match outbox.offer(out) {
        Offer::Taken => true,
        Offer::Full => {
            tracing::warn!(conn = %id, "outgoing queue full; closing slow consumer");
            false
        }
        Offer::Closed => false,
    }
}

/// A stored message names its channel by interned id so the writer can drop repeats.
fn outbound(seq: Option<u64>, channel_id: u64, frame: &Utf8Bytes) -> Outbound {
    match seq {
        Some(seq) => Outbound::Stream {
            id: channel_id,
            seq,
            frame: frame.clone(),
        },
        None => Outbound::Frame(frame.clone()),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    #[error("the user already has {0} live devices")]
    TooManyDevices(usize),
}

/// What changed for a user when a connection came or went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// The user's first device connected / last one left.
    pub user_online: Option<bool>,
}

/// What changed on a channel when a connection subscribed or left it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// The user's first subscription to the channel (`Some(true)`) or last one gone.
    pub user_joined: Option<bool>,
}

/// A channel's subscribers split into shares, one per fan-out worker. A connection always
/// falls in the same share, so shares offered by separate workers still give each connection
/// its messages in order.
pub type Shares = Arc<[Vec<Arc<Outbox>>]>;

/// One channel's subscribers. The entry exists only while the channel has subscribers.
struct Subscribers {
    /// The id [`Outbound::Stream`] names the channel by, for as long as the entry lives.
    /// Never reused (a 64-bit counter), so a position a connection still holds under a
    /// channel's old id can never be taken for another channel's.
    id: u64,
    /// connection id → its queue (a map: subscribe and leave are O(1) however crowded).
    conns: HashMap<Arc<str>, Arc<Outbox>>,
    /// Copy-on-write snapshot of `conns` in shares: a publish takes a reference under the
    /// registry lock and offers outside it, so one hot channel neither holds the lock for a
    /// thousand offers nor rebuilds its target list per message. Dropped on every change and
    /// rebuilt by the next publish.
    shares: Option<Shares>,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<Arc<str>, Handle>,
    users: HashMap<Arc<str>, Vec<Arc<str>>>,
    channels: HashMap<Arc<str>, Subscribers>,
    /// channel → authenticated user → how many of the user's connections subscribe: joins,
    /// leaves and member lists without scanning the subscribers.
    members: HashMap<Arc<str>, HashMap<Arc<str>, u32>>,
    /// connection id → its channels, for cleanup.
    subscriptions: HashMap<Arc<str>, Vec<Arc<str>>>,
    /// The last channel id handed out.
    next_channel_id: u64,
    /// Live sessions and their connections, to close them when the session ends.
    sessions: HashMap<i64, sessions::LiveSession>,
    /// (expiry, session) of every live session, earliest first.
    deadlines: std::collections::BTreeSet<(u64, i64)>,
}

pub struct Hub {
    registry: Mutex<Registry>,
    live: AtomicUsize,
    max_devices: usize,
    hasher: RandomState,
    /// Wakes the expiry task when a session's deadline became the earliest.
    deadline_moved: tokio::sync::Notify,
}

impl Hub {
    pub fn new(max_devices: usize) -> Self {
        Self {
            registry: Mutex::default(),
            live: AtomicUsize::new(0),
            max_devices,
            hasher: RandomState::new(),
            deadline_moved: tokio::sync::Notify::new(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock would be a bug in the hub's few lines; keep serving.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live connections on this relay.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn register(&self, handle: Handle) -> Result<Change, HubError> {
        let mut reg = self.registry();
        let mut change = Change::default();
        if let Some(user) = &handle.user_id {
            let devices = reg.users.entry(user.clone()).or_default();
            if devices.len() >= self.max_devices {
                return Err(HubError::TooManyDevices(devices.len()));
            }
            if devices.is_empty() {
                change.user_online = Some(true);
            }
            devices.push(handle.id.clone());
        }
        if let Some(link) = &handle.session
            && reg.add_to_session(link, &handle.id)
        {
            self.deadline_moved.notify_one();
        }
        reg.conns.insert(handle.id.clone(), handle);
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(change)
    }

    /// Removes a connection and its subscriptions; returns the user change and the channels
    /// it left with their membership changes (for `track_*` leave events).
    pub fn unregister(&self, id: &str) -> (Change, Vec<(Arc<str>, Membership)>) {
        let channels = self
            .registry()
            .subscriptions
            .get(id)
            .cloned()
            .unwrap_or_default();
        let left = channels
            .into_iter()
            .map(|ch| {
                let m = self.unsubscribe(id, &ch);
                (ch, m)
            })
            .collect();
        let mut reg = self.registry();
        let mut change = Change::default();
        let Some(handle) = reg.conns.remove(id) else {
            return (change, left);
        };
        reg.subscriptions.remove(id);
        if let Some(link) = &handle.session {
            reg.remove_from_session(link.id, id);
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        if let Some(user) = &handle.user_id
            && let Some(devices) = reg.users.get_mut(user)
        {
            devices.retain(|d| &**d != id);
            if devices.is_empty() {
                reg.users.remove(user);
                change.user_online = Some(false);
            }
        }
        (change, left)
    }

    pub fn user_of(&self, id: &str) -> Option<Arc<str>> {
        self.registry().conns.get(id)?.user_id.clone()
    }

    pub fn devices(&self, user_id: &str) -> usize {
        self.registry().users.get(user_id).map_or(0, Vec::len)
    }

    /// Sends a personal message to every live connection of the user; returns how many took it.
    pub fn deliver_personal(&self, user_id: &str, frame: &Arc<PersonalFrame>) -> usize {
        let reg = self.registry();
        let Some(devices) = reg.users.get(user_id) else {
            return 0;
        };
        devices
            .iter()
            .filter_map(|id| reg.conns.get(id))
            .filter(|h| {
                h.offer(Outbound::Stream {
                    id: PERSONAL,
                    seq: frame.seq,
                    frame: frame.of(h.dialect).clone(),
                })
            })
            .count()
    }

    /// Adds a subscription; `None` if the connection is gone or already subscribed.
    pub fn subscribe(&self, id: &str, channel: &str) -> Option<Membership> {
        let mut reg = self.registry();
        let handle = reg.conns.get(id)?.clone();
        let subs = reg.subscriptions.entry(handle.id.clone()).or_default();
        if subs.iter().any(|c| &**c == channel) {
            return None;
        }
        let channel: Arc<str> = channel.into();
        subs.push(channel.clone());
        let first_of_user = handle.user_id.as_ref().is_some_and(|u| {
            let count = reg
                .members
                .entry(channel.clone())
                .or_default()
                .entry(u.clone())
                .or_default();
            *count += 1;
            *count == 1
        });
        let reg = &mut *reg;
        let next_id = &mut reg.next_channel_id;
        let subs = reg.channels.entry(channel).or_insert_with(|| {
            *next_id += 1;
            Subscribers {
                id: *next_id,
                conns: HashMap::new(),
                shares: None,
            }
        });
        subs.conns.insert(handle.id, handle.outbox);
        subs.shares = None;
        Some(Membership {
            user_joined: first_of_user.then_some(true),
        })
    }

    pub fn subscriptions(&self, id: &str) -> usize {
        self.registry().subscriptions.get(id).map_or(0, Vec::len)
    }

    pub fn unsubscribe(&self, id: &str, channel: &str) -> Membership {
        let mut reg = self.registry();
        let Some(subs) = reg.subscriptions.get_mut(id) else {
            return Membership::default();
        };
        let before = subs.len();
        subs.retain(|c| &**c != channel);
        if subs.len() == before {
            return Membership::default();
        }
        if let Some(subs) = reg.channels.get_mut(channel) {
            subs.conns.remove(id);
            subs.shares = None;
            if subs.conns.is_empty() {
                reg.channels.remove(channel);
            }
        }
        let user = reg.conns.get(id).and_then(|h| h.user_id.clone());
        let last_of_user = user.as_deref().is_some_and(|u| {
            let Some(users) = reg.members.get_mut(channel) else {
                return false;
            };
            let last = match users.get_mut(u) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    users.remove(u);
                    true
                }
                None => false,
            };
            if users.is_empty() {
                reg.members.remove(channel);
            }
            last
        });
        Membership {
            user_joined: last_of_user.then_some(false),
        }
    }

    /// The id [`Outbound::Stream`] names this channel by, while it has subscribers. Looks
    /// up only: a name nobody subscribes to costs the hub nothing.
    pub fn channel_id(&self, channel: &str) -> Option<u64> {
        self.registry().channels.get(channel).map(|s| s.id)
    }

    /// Channels with at least one subscriber here: the size of the hub's channel table.
    pub fn channel_count(&self) -> usize {
        self.registry().channels.len()
    }

    /// Sends a channel message to its subscribers; `seq` is `None` for live-only frames.
    /// For the occasional frame (presence, status); publishes go through [`Self::channel_targets`].
    pub fn deliver_channel(&self, channel: &str, seq: Option<u64>, frame: &Utf8Bytes) -> usize {
        self.deliver_channel_but(channel, seq, frame, None)
    }

    /// A live-only frame to every subscriber of `channel` but the connection `except`.
    pub fn deliver_channel_except(&self, channel: &str, except: &str, frame: &Utf8Bytes) -> usize {
        self.deliver_channel_but(channel, None, frame, Some(except))
    }

    fn deliver_channel_but(
        &self,
        channel: &str,
        seq: Option<u64>,
        frame: &Utf8Bytes,
        except: Option<&str>,
    ) -> usize {
        let reg = self.registry();
        let Some(subs) = reg.channels.get(channel) else {
            return 0;
        };
        let out = outbound(seq, subs.id, frame);
        subs.conns
            .iter()
            .filter(|(id, _)| Some(&***id) != except)
            .filter(|(id, outbox)| offer(id, outbox, out.clone()))
            .count()
    }

    /// A channel message as subscribers get it, and the subscribers' queues in `parts` shares
    /// (see [`Shares`]); `seq` is `None` on live-only channels.
    pub fn channel_targets(
        &self,
        channel: &str,
        seq: Option<u64>,
        frame: &Utf8Bytes,
        parts: usize,
    ) -> Option<(Outbound, Shares)> {
        let mut reg = self.registry();
        let subs = reg.channels.get_mut(channel)?;
        let id = subs.id;
        let parts = parts.max(1);
        let shares = match &subs.shares {
            Some(shares) if shares.len() == parts => shares.clone(),
            _ => {
                let mut groups = vec![Vec::with_capacity(subs.conns.len() / parts + 1); parts];
                for (conn, outbox) in &subs.conns {
                    let group = (self.hasher.hash_one(&**conn) as usize) % parts;
                    groups[group].push(outbox.clone());
                }
                let shares: Shares = groups.into();
                subs.shares = Some(shares.clone());
                shares
            }
        };
        Some((outbound(seq, id, frame), shares))
    }

    pub fn subscribers(&self, channel: &str) -> usize {
        self.registry()
            .channels
            .get(channel)
            .map_or(0, |s| s.conns.len())
    }

    /// Distinct authenticated users subscribed to the channel, sorted.
    pub fn members(&self, channel: &str) -> Vec<String> {
        let reg = self.registry();
        let mut users: Vec<String> = reg
            .members
            .get(channel)
            .into_iter()
            .flat_map(|m| m.keys().map(|u| u.to_string()))
            .collect();
        users.sort();
        users
    }

    /// `None` when no such connection is live here.
    pub fn send_to(&self, id: &str, frame: Utf8Bytes) -> Option<bool> {
        let reg = self.registry();
        reg.conns.get(id).map(|h| h.offer(Outbound::Frame(frame)))
    }

    /// To the listed connections, or to every live one when `ids` is `None`. Returns how many
    /// took it and which listed ids are not live.
    pub fn broadcast(&self, ids: Option<&[String]>, frame: &Utf8Bytes) -> (usize, Vec<String>) {
        let reg = self.registry();
        let offer = |h: &Handle| h.offer(Outbound::Frame(frame.clone()));
        match ids {
            None => (reg.conns.values().filter(|h| offer(h)).count(), Vec::new()),
            Some(ids) => {
                let mut invalid = Vec::new();
                let mut delivered = 0;
                for id in ids {
                    match reg.conns.get(id.as_str()) {
                        Some(h) => delivered += usize::from(offer(h)),
                        None => invalid.push(id.clone()),
                    }
                }
                (delivered, invalid)
            }
        }
    }

    pub fn close(&self, id: &str, code: CloseCode) -> bool {
        let reg = self.registry();
        reg.conns.get(id).map(|h| h.outbox.close(code)).is_some()
    }

    /// Closes the user's connections, or only those of one session; returns how many.
    /// Includes connections a visitor's session opened anonymously.
    pub fn close_user(&self, user_id: &str, session_id: Option<i64>, code: CloseCode) -> usize {
        let reg = self.registry();
        let mut ids: std::collections::HashSet<&Arc<str>> = reg
            .users
            .get(user_id)
            .into_iter()
            .flatten()
            .filter(|id| {
                reg.conns.get(*id).is_some_and(|h| {
                    session_id.is_none_or(|s| h.session.as_ref().is_some_and(|l| l.id == s))
                })
            })
            .collect();
        ids.extend(reg.session_conns_of(user_id, session_id));
        ids.iter()
            .filter_map(|id| reg.conns.get(*id))
            .inspect(|h| h.outbox.close(code))
            .count()
    }

    /// Frames waiting in every live connection's outbox (for scrapes, not the hot path).
    pub fn queued(&self) -> usize {
        self.registry()
            .conns
            .values()
            .map(|h| h.outbox.queued())
            .sum()
    }

    /// The ids of every live connection, in no particular order.
    pub fn ids(&self) -> Vec<Arc<str>> {
        self.registry().conns.keys().cloned().collect()
    }

    pub fn close_all(&self, code: CloseCode) {
        for h in self.registry().conns.values() {
            h.outbox.close(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: &str, user: Option<&str>, queue: usize) -> (Handle, Arc<Outbox>) {
        let outbox = Arc::new(Outbox::new(queue));
        let h = Handle {
            id: id.into(),
            user_id: user.map(Into::into),
            session: None,
            dialect: Dialect::Native,
            outbox: outbox.clone(),
        };
        (h, outbox)
    }

    fn f(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }

    async fn next(o: &Outbox) -> Outbound {
        let mut buf = std::collections::VecDeque::new();
        match o.next(&mut buf).await {
            crate::outbox::Next::Frames => buf.pop_front().unwrap_or(Outbound::Frame(f(""))),
            crate::outbox::Next::Close(c) => Outbound::Frame(Utf8Bytes::from(c.to_string())),
        }
    }

    #[tokio::test]
    async fn device_cap_fan_out_and_online_changes() {
        let hub = Hub::new(2);
        let (a, ra) = handle("a", Some("u"), 4);
        let (b, rb) = handle("b", Some("u"), 4);
        let (c, _rc) = handle("c", Some("u"), 4);
        assert_eq!(hub.register(a).map(|c| c.user_online), Ok(Some(true)));
        assert_eq!(hub.register(b).map(|c| c.user_online), Ok(None));
        assert_eq!(hub.register(c), Err(HubError::TooManyDevices(2)));
        let p = Arc::new(PersonalFrame {
            seq: 7,
            wafer: f("w"),
            native: f("n"),
        });
        assert_eq!(hub.deliver_personal("u", &p), 2);
        let personal = |o: Outbound| matches!(o, Outbound::Stream { id: PERSONAL, seq: 7, frame } if frame == "n");
        assert!(personal(next(&ra).await));
        assert!(personal(next(&rb).await));
        assert_eq!(hub.unregister("a").0.user_online, None);
        assert_eq!(hub.devices("u"), 1);
        assert_eq!(hub.unregister("b").0.user_online, Some(false));
        assert_eq!(hub.live(), 0);
    }

    #[tokio::test]
    async fn full_queue_closes_only_the_slow_connection() {
        let hub = Hub::new(16);
        let (slow, slow_box) = handle("slow", Some("u"), 1);
        let (fast, rf) = handle("fast", Some("v"), 8);
        assert!(hub.register(slow).is_ok());
        assert!(hub.register(fast).is_ok());
        assert_eq!(hub.broadcast(None, &f("x")).0, 2);
        assert_eq!(hub.broadcast(None, &f("x")).0, 1);
        let mut buf = std::collections::VecDeque::new();
        assert_eq!(
            slow_box.next(&mut buf).await,
            crate::outbox::Next::Close(CloseCode::SlowConsumer.code())
        );
        assert!(rf.take(&mut buf) && buf.len() == 2);
        let (n, invalid) = hub.broadcast(Some(&["fast".into(), "nope".into()]), &f("x"));
        assert_eq!((n, invalid), (1, vec!["nope".to_string()]));
    }

    #[tokio::test]
    async fn channel_membership_and_fan_out() {
        let hub = Hub::new(16);
        let (a, ra) = handle("a", Some("u"), 8);
        let (b, _rb) = handle("b", Some("u"), 8);
        let (anon, rn) = handle("n", None, 8);
        for h in [a, b, anon] {
            assert!(hub.register(h).is_ok());
        }
        let joined = |m: Option<Membership>| m.map(|m| m.user_joined);
        assert_eq!(joined(hub.subscribe("a", "track_x")), Some(Some(true)));
        assert_eq!(
            hub.subscribe("a", "track_x"),
            None,
            "no double subscription"
        );
        assert_eq!(joined(hub.subscribe("b", "track_x")), Some(None));
        assert_eq!(joined(hub.subscribe("n", "track_x")), Some(None));
        assert_eq!(hub.subscribers("track_x"), 3);
        assert_eq!(hub.members("track_x"), vec!["u".to_string()]);
        assert_eq!(hub.deliver_channel("track_x", Some(3), &f("p")), 3);
        assert!(matches!(next(&ra).await, Outbound::Stream { seq: 3, .. }));
        assert!(matches!(next(&rn).await, Outbound::Stream { seq: 3, .. }));
        assert_eq!(hub.unsubscribe("a", "track_x").user_joined, None);
        let (_, left) = hub.unregister("b");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.user_joined, Some(false));
        assert!(hub.members("track_x").is_empty());
        assert_eq!(hub.subscribers("track_x"), 1);
    }

    #[test]
    fn a_channel_entry_lives_as_long_as_its_subscribers_and_ids_are_never_reused() {
        let hub = Hub::new(16);
        for id in ["a", "b"] {
            assert!(hub.register(handle(id, None, 8).0).is_ok());
        }
        assert_eq!(hub.unsubscribe("a", "web_never").user_joined, None);
        assert_eq!(hub.channel_id("web_never"), None, "a lookup adds nothing");
        assert_eq!(hub.channel_count(), 0);
        assert!(hub.subscribe("a", "web_x").is_some());
        assert!(hub.subscribe("b", "web_x").is_some());
        let first = hub.channel_id("web_x");
        assert!(first.is_some());
        hub.unsubscribe("a", "web_x");
        assert_eq!(hub.channel_id("web_x"), first, "kept while b subscribes");
        hub.unregister("b");
        assert_eq!(hub.channel_count(), 0, "gone with its last subscriber");
        assert!(hub.subscribe("a", "web_x").is_some());
        let second = hub.channel_id("web_x");
        assert!(
            second.is_some() && second != first,
            "a fresh id, never the old one"
        );
    }

    #[test]
    fn channel_targets_follow_every_change() {
        let hub = Hub::new(16);
        let count = |hub: &Hub| {
            hub.channel_targets("web_x", Some(1), &f("p"), 2)
                .map_or(0, |(_, shares)| shares.iter().map(Vec::len).sum::<usize>())
        };
        for id in ["a", "b", "c"] {
            assert!(hub.register(handle(id, None, 8).0).is_ok());
            assert!(hub.subscribe(id, "web_x").is_some());
        }
        assert_eq!(count(&hub), 3);
        let (_, shares) = hub
            .channel_targets("web_x", None, &f("p"), 2)
            .unwrap_or_else(|| unreachable!("subscribed"));
        assert_eq!(shares.len(), 2, "one share per worker");
        hub.unsubscribe("a", "web_x");
        assert_eq!(count(&hub), 2, "a snapshot is not reused after a leave");
        hub.unregister("b");
        assert!(hub.register(handle("d", None, 8).0).is_ok());
        assert!(hub.subscribe("d", "web_x").is_some());
        assert_eq!(count(&hub), 2);
        hub.unregister("c");
        hub.unregister("d");
        assert!(hub.channel_targets("web_x", None, &f("p"), 2).is_none());
    }
}
