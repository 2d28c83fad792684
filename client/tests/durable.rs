//! A durable tunnel on virtual time: every emit carries an idempotency key, stays until the
//! relay answers it, goes again on the next socket after a loss, and is handed to the host to
//! persist, so a new page (`restore`) sends it with its old key.

mod common;

use cometa_client::{Action, Status, Tunnel, TunnelConfig};
use common::Host;

fn durable() -> TunnelConfig {
    TunnelConfig {
        durable: true,
        ..TunnelConfig::default()
    }
}

/// The frames sent and the last text persisted among `actions`.
fn split(actions: Vec<Action>) -> (Vec<String>, Option<String>) {
    let mut sent = Vec::new();
    let mut persisted = None;
    for a in actions {
        match a {
            Action::Send(f) => sent.push(f),
            Action::Persist(p) => persisted = Some(p),
            _ => {}
        }
    }
    (sent, persisted)
}

fn member<'a>(frame: &'a str, key: &str) -> &'a str {
    let v: &'a str = frame;
    let at = v.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let rest = &v[at..];
    let end = rest.find([',', '}']).expect("end");
    rest[..end].trim_matches('"')
}

#[test]
fn an_emit_lost_with_its_socket_goes_again_with_the_same_key() {
    let mut h = Host::new(durable());
    h.connect();
    let id = h.t.emit_with_ack(h.now, "say", r#"{"t":1}"#);
    h.t.emit(h.now, "plain", "2");
    let (sent, persisted) = split(h.actions());
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].starts_with(r#"message:{"type":"say","content":{"t":1},"mid":""#),
        "{}",
        sent[0]
    );
    assert_eq!(member(&sent[0], "id"), id.to_string());
    let (key1, key2) = (
        member(&sent[0], "mid").to_owned(),
        member(&sent[1], "mid").to_owned(),
    );
    assert_ne!(key1, key2);
    assert_eq!(key1.len(), 16);
    assert_eq!(persisted.expect("persisted").lines().count(), 2);

    // The socket dies before any reply: both go again, same keys, in order.
    h.t.handle_socket_close(h.now, 1006);
    assert_eq!(h.t.status(), Status::Reconnecting);
    h.actions();
    // The backoff wait ends with a fetch of the connect URL.
    while !h.actions().contains(&Action::FetchConnectUrl) {
        h.advance(100);
    }
    h.answer_and_open();
    let (again, _) = split(h.actions());
    assert_eq!(again.len(), 2);
    assert_eq!(
        (member(&again[0], "mid"), member(&again[1], "mid")),
        (key1.as_str(), key2.as_str())
    );

    // Answered: forgotten, and the host is told to store the shorter list.
    h.recv(&format!(r#"reply:{{"id":{id},"result":{{}}}}"#));
    let (_, persisted) = split(h.actions());
    let left = persisted.expect("persisted after the reply");
    assert_eq!(left.lines().count(), 1);
    assert!(left.contains(&key2));
    assert_eq!(h.t.outbox_len(), 1);
}

#[test]
fn what_a_page_persisted_offline_the_next_page_sends_once_connected() {
    let mut first = Host::new(durable());
    first.t.open(first.now);
    first.actions();
    // Offline: the connect URL cannot be fetched; emits are kept and persisted.
    first.t.emit(first.now, "a", "1");
    first.t.emit(first.now, "b", "2");
    let (sent, persisted) = split(first.actions());
    assert!(sent.is_empty());
    let stored = persisted.expect("persisted");

    // The reload: a new tunnel (new reply ids), restored from storage before it connects.
    let mut next = Host::seeded(durable(), 7);
    next.t
        .restore(&format!("{stored}\nnot json\n{{\"type\":\"x\"}}"));
    let (_, persisted) = split(next.actions());
    assert_eq!(
        persisted.as_deref(),
        Some(stored.as_str()),
        "bad lines skipped"
    );
    next.connect();
    let (sent, _) = split(next.actions());
    assert_eq!(sent.len(), 2);
    let keys: Vec<&str> = stored.lines().map(|l| member(l, "mid")).collect();
    assert_eq!(member(&sent[0], "mid"), keys[0]);
    assert_eq!(member(&sent[1], "mid"), keys[1]);
    assert!(sent[0].contains(r#""type":"a","content":1"#));
}

#[test]
fn a_tunnel_that_is_not_durable_is_unchanged() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.emit(h.now, "say", "1");
    assert_eq!(
        split(h.actions()).0,
        [r#"message:{"type":"say","content":1}"#]
    );
    h.t.restore(r#"{"type":"a","content":1,"mid":"k"}"#);
    assert!(h.actions().is_empty());
    let _ = Tunnel::new(TunnelConfig::default(), 1);
}

#[test]
fn unanswered_emits_are_bounded() {
    let mut h = Host::new(TunnelConfig {
        max_outbox: 2,
        ..durable()
    });
    for i in 0..3 {
        h.t.emit(h.now, "e", &i.to_string());
    }
    assert_eq!(h.t.outbox_len(), 2);
    assert_eq!(common::Host::error_codes(&h.events()), [3003]);
}
