//! The wire is at-least-once, the page's callbacks exactly once: after a reconnect the relay
//! replays every personal message it has no receipt for, and the tunnel drops the seqs it
//! already delivered in the same epoch. On virtual time.

mod common;

use cometa_client::{Action, Event, TunnelConfig};
use common::{Host, msg};

fn push(h: &mut Host, seq: u64) {
    h.recv(&format!(
        r#"message:{{"type":"n","content":{seq},"seq":{seq}}}"#
    ));
}

/// The socket is lost and comes back after its backoff.
fn reconnect(h: &mut Host) {
    h.t.handle_socket_close(h.now, 1006);
    assert_eq!(h.events(), [Event::Reconnecting]);
    let due = h.t.poll_timeout().unwrap_or(u64::MAX);
    h.advance_to(due);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.answer_and_open();
    assert_eq!(h.events(), [Event::Reconnect]);
}

fn contents(events: Vec<Event>) -> Vec<String> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { content_json, .. } => Some(content_json),
            _ => None,
        })
        .collect()
}

#[test]
fn a_replay_after_a_reconnect_reaches_the_page_once() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.recv(r#"stream:{"epoch":"e1"}"#);
    for seq in 1..=3 {
        push(&mut h, seq);
    }
    assert_eq!(contents(h.events()), ["1", "2", "3"]);

    // The relay had a receipt for 1 only: 2 and 3 come again, then 4.
    reconnect(&mut h);
    h.recv(r#"stream:{"epoch":"e1"}"#);
    for seq in 2..=4 {
        push(&mut h, seq);
    }
    assert_eq!(
        contents(h.events()),
        ["4"],
        "2 and 3 were already delivered"
    );

    // Broadcasts carry no seq and are never dropped.
    h.recv(r#"message:{"type":"b","content":0}"#);
    h.recv(r#"message:{"type":"b","content":0}"#);
    assert_eq!(h.events(), [msg("b", "0"), msg("b", "0")]);
}

#[test]
fn another_epoch_is_another_history() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.recv(r#"stream:{"epoch":"old"}"#);
    for seq in 1..=5 {
        push(&mut h, seq);
    }
    assert_eq!(contents(h.events()).len(), 5);
    // The user was deleted and re-created: its stream starts again at 1.
    reconnect(&mut h);
    h.recv(r#"stream:{"epoch":"new"}"#);
    push(&mut h, 1);
    push(&mut h, 2);
    assert_eq!(contents(h.events()), ["1", "2"]);
}

#[test]
fn without_an_epoch_nothing_is_dropped() {
    // A relay that names no epoch (older versions): seqs cannot be compared across sockets.
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    push(&mut h, 1);
    assert_eq!(contents(h.events()), ["1"]);
    reconnect(&mut h);
    push(&mut h, 1);
    assert_eq!(contents(h.events()), ["1"], "delivered again");
    // A stream packet without content turns dedup off instead of dropping messages.
    h.recv(r#"stream:{"epoch":"e"}"#);
    push(&mut h, 2);
    h.recv("stream");
    push(&mut h, 2);
    assert_eq!(contents(h.events()), ["2", "2"]);
}
