//! Acknowledged emits on virtual time: the id on the frame (also when queued), and the relay's
//! reply handed to the host as an `ACK_EVENT` message. Drops and lost sockets are settled by
//! the host from the tunnel's events (npm `index.js`), tested there against a live relay.

mod common;

use cometa_client::event::ACK_EVENT;
use cometa_client::{Action, Event, TunnelConfig};
use common::{Host, msg, send};

#[test]
fn the_frame_carries_the_id_and_the_reply_comes_back_as_an_ack_message() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    let a = h.t.emit_with_ack(h.now, "say", r#"{"t":1}"#);
    let b = h.t.emit_with_ack(h.now, "say", "");
    assert_ne!(a, b);
    assert_eq!(
        h.actions(),
        [
            send(&format!(
                r#"message:{{"type":"say","content":{{"t":1}},"id":{a}}}"#
            )),
            send(&format!(
                r#"message:{{"type":"say","content":null,"id":{b}}}"#
            )),
        ]
    );
    let refused = format!(r#"{{"id":{b},"error":{{"code":4008,"message":"nobody"}}}}"#);
    h.recv(&format!("reply:{refused}"));
    h.recv(&format!(r#"reply:{{"id":{a},"result":{{}}}}"#));
    assert_eq!(
        h.events(),
        [
            msg(ACK_EVENT, &refused),
            msg(ACK_EVENT, &format!(r#"{{"id":{a},"result":{{}}}}"#)),
        ]
    );
    // A plain emit carries no id, as Wafer's.
    h.t.emit(h.now, "say", "1");
    assert_eq!(h.actions(), [send(r#"message:{"type":"say","content":1}"#)]);
    // No server message can pose as an outcome: reserved names are escaped, and the relay
    // refuses control characters in event names.
    assert!(ACK_EVENT.starts_with('\u{1}'));
}

#[test]
fn a_queued_emit_keeps_its_id_until_the_socket_opens() {
    let mut h = Host::new(TunnelConfig::default());
    let id = h.t.emit_with_ack(h.now, "a", "1");
    assert!(h.actions().is_empty());
    h.t.open(h.now);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.answer_and_open();
    assert_eq!(
        h.actions(),
        [send(&format!(
            r#"message:{{"type":"a","content":1,"id":{id}}}"#
        ))]
    );
    assert_eq!(h.events(), [Event::Connect]);
}
