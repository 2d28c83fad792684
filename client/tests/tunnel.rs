//! Whole tunnel lifecycles on virtual time: open, connect, emit, messages from the server,
//! first-connection failures and closing. Liveness and reconnects have their own files.

mod common;

use cometa_client::event::{
    ERR_BAD_PACKET, ERR_CONNECT_SERVICE, ERR_CONNECT_SOCKET, ERR_OUTBOX_OVERFLOW, ERR_SOCKET_ERROR,
};
use cometa_client::{Action, Event, Status, Tunnel, TunnelConfig};
use common::{Host, URL, msg, send};

#[test]
fn connect_flushes_the_outbox_in_order() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.emit(0, "a", "1");
    h.t.emit(0, "b", r#"{"x":"y"}"#);
    h.t.emit(0, "c", "");
    assert_eq!(h.t.outbox_len(), 3);
    assert!(h.actions().is_empty());

    h.t.open(0);
    assert_eq!(h.t.status(), Status::Connecting);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.now = 40;
    h.t.handle_connect_url(h.now, Ok(URL.into()));
    assert_eq!(h.actions(), [Action::OpenSocket { url: URL.into() }]);
    assert_eq!(h.t.status(), Status::Connecting);
    h.now = 90;
    h.t.handle_socket_open(h.now);
    assert_eq!(h.t.status(), Status::Active);
    assert_eq!(h.events(), [Event::Connect]);
    assert_eq!(
        h.actions(),
        [
            send(r#"message:{"type":"a","content":1}"#),
            send(r#"message:{"type":"b","content":{"x":"y"}}"#),
            send(r#"message:{"type":"c","content":null}"#),
        ]
    );
    assert_eq!(h.t.outbox_len(), 0);

    // Active: straight out, with the type JSON-escaped.
    h.t.emit(h.now, "say \"hi\"", r#""ok""#);
    assert_eq!(
        h.actions(),
        [send(r#"message:{"type":"say \"hi\"","content":"ok"}"#)]
    );
}

#[test]
fn server_close_packet_closes_the_tunnel() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.recv("close");
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.actions(), [Action::CloseSocket]);
    assert_eq!(h.events(), [Event::Close]);
    // The socket's own close event, if the host reports it, changes nothing.
    h.t.handle_socket_close(h.now, 1000);
    assert!(h.events().is_empty());
    assert_eq!(h.t.poll_timeout(), None);
}

#[test]
fn reserved_event_names_are_escaped() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.recv(r#"message:{"type":"close","content":{"why":"a:b"}}"#);
    h.recv(r#"message:{"type":"connect","content":null}"#);
    h.recv(r#"message:{"type":"@close","content":1}"#);
    h.recv(r#"message:{"type":"speak","content":"hi"}"#);
    h.recv(r#"message:{"type":"speak"}"#);
    assert_eq!(
        h.events(),
        [
            msg("@close", r#"{"why":"a:b"}"#),
            msg("@connect", "null"),
            msg("@close", "1"),
            msg("speak", r#""hi""#),
            msg("speak", "null"),
        ]
    );
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn malformed_packets_raise_3002_and_keep_the_tunnel() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    let bad = [
        "message",
        "message:",
        "message:[1]",
        "message:\"speak\"",
        "message:{bad",
        r#"message:{"content":1}"#,
        r#"message:{"type":1,"content":1}"#,
        r#"message:{"type":"a","content":}"#,
    ];
    for frame in bad {
        h.recv(frame);
    }
    let events = h.events();
    assert_eq!(Host::error_codes(&events), vec![ERR_BAD_PACKET; bad.len()]);
    assert_eq!(events.len(), bad.len());
    assert_eq!(h.t.status(), Status::Active);
    h.recv(r#"message:{"type":"ok","content":true}"#);
    assert_eq!(h.events(), [msg("ok", "true")]);
    // Unknown packet types are dropped silently.
    h.recv("subscribed:{}");
    assert!(h.events().is_empty());
}

#[test]
fn first_service_failure_closes_with_1001() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.t.handle_connect_url(10, Err("HTTP 500".into()));
    assert_eq!(h.t.status(), Status::Closed);
    let events = h.events();
    assert_eq!(Host::error_codes(&events), [ERR_CONNECT_SERVICE]);
    assert!(
        !events.contains(&Event::Close),
        "Wafer sends no close for a tunnel that never connected"
    );
    assert!(matches!(&events[0], Event::Error { message, .. } if message.contains("HTTP 500")));
    assert_eq!(h.t.poll_timeout(), None);
    // The page may open again.
    h.connect();
}

#[test]
fn empty_connect_url_counts_as_service_failure() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    h.t.handle_connect_url(0, Ok(String::new()));
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(Host::error_codes(&h.events()), [ERR_CONNECT_SERVICE]);
}

#[test]
fn fetch_that_never_answers_times_out() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    h.actions();
    h.advance_to(15_000);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(Host::error_codes(&h.events()), [ERR_CONNECT_SERVICE]);
    // The late answer is ignored.
    h.t.handle_connect_url(h.now, Ok(URL.into()));
    assert!(h.actions().is_empty());
}

#[test]
fn first_socket_failure_reports_and_retries_then_connects() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    h.actions();
    h.t.handle_connect_url(0, Ok(URL.into()));
    h.actions();
    h.t.handle_socket_error(5, "ECONNREFUSED");
    h.t.handle_socket_close(5, 1006);
    let events = h.events();
    assert_eq!(
        Host::error_codes(&events),
        [ERR_SOCKET_ERROR, ERR_CONNECT_SOCKET]
    );
    assert_eq!(events.last(), Some(&Event::Reconnecting));
    assert_eq!(h.t.status(), Status::Reconnecting);

    h.advance_to(h.t.poll_timeout().unwrap_or(u64::MAX));
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.answer_and_open();
    // The page has never seen `connect`, so it gets that rather than `reconnect`.
    assert_eq!(h.events(), [Event::Connect]);
}

#[test]
fn socket_that_never_opens_times_out() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    h.t.handle_connect_url(0, Ok(URL.into()));
    h.actions();
    h.advance_to(15_000);
    assert_eq!(h.actions(), [Action::CloseSocket]);
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(Host::error_codes(&h.events()), [ERR_CONNECT_SOCKET]);
}

#[test]
fn socket_errors_after_connecting_are_left_to_the_close() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.handle_socket_error(h.now, "reset");
    assert!(h.events().is_empty());
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn user_close_sends_close_packet_once() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.close(h.now);
    assert_eq!(h.actions(), [send("close"), Action::CloseSocket]);
    assert_eq!(h.events(), [Event::Close]);
    assert_eq!(h.t.status(), Status::Closed);
    h.t.close(h.now);
    h.t.handle_socket_close(h.now, 1000);
    assert!(h.actions().is_empty());
    assert!(h.events().is_empty());
    // Reopening is a fresh start.
    h.connect();
}

#[test]
fn host_end_closes_for_good_with_an_error() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.end(h.now, 4502, "session expired".into());
    assert_eq!(h.actions(), [send("close"), Action::CloseSocket]);
    assert_eq!(
        h.events(),
        [
            Event::Close,
            Event::Error {
                code: 4502,
                message: "session expired".into()
            }
        ]
    );
    assert_eq!(h.t.poll_timeout(), None, "no reconnect is scheduled");
    // Ending a closed tunnel, or ending twice, tells the page nothing more.
    h.t.end(h.now, 4502, "again".into());
    assert!(h.events().is_empty());

    // While reconnecting: no socket to close, no retry left behind.
    h.connect();
    h.t.handle_socket_close(h.now, 1006);
    assert_eq!(h.events(), [Event::Reconnecting]);
    h.t.end(h.now, 4502, "session expired".into());
    assert!(h.actions().is_empty());
    assert_eq!(Host::error_codes(&h.events()), [4502]);
    assert_eq!(h.t.status(), Status::Closed);
    h.advance(120_000);
    assert!(h.actions().is_empty(), "no reconnect attempt after the end");
}

#[test]
fn user_close_while_reconnecting_stops_retrying() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.handle_socket_close(h.now, 1006);
    h.events();
    h.t.close(h.now);
    assert!(h.actions().is_empty(), "no socket to close while waiting");
    assert_eq!(h.events(), [Event::Close]);
    assert_eq!(h.t.poll_timeout(), None);
    assert_eq!(h.t.reconnect_attempts(), 0);
}

#[test]
fn outbox_overflow_drops_oldest_and_reports_once() {
    let config = TunnelConfig {
        max_outbox: 2,
        ..TunnelConfig::default()
    };
    let mut h = Host::new(config);
    for i in 0..5 {
        h.t.emit(0, "n", &i.to_string());
    }
    assert_eq!(Host::error_codes(&h.events()), [ERR_OUTBOX_OVERFLOW]);
    h.connect();
    assert_eq!(
        h.actions(),
        [
            send(r#"message:{"type":"n","content":3}"#),
            send(r#"message:{"type":"n","content":4}"#),
        ]
    );
}

#[test]
fn emits_during_an_outage_wait_for_the_reconnect() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.handle_socket_close(h.now, 1006);
    h.events();
    h.t.emit(h.now, "later", "[1]");
    assert!(h.actions().is_empty());
    h.t.reconnect_now(h.now);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.t.handle_connect_url(h.now, Ok(URL.into()));
    assert_eq!(h.actions(), [Action::OpenSocket { url: URL.into() }]);
    h.t.handle_socket_open(h.now);
    assert_eq!(
        h.actions(),
        [send(r#"message:{"type":"later","content":[1]}"#)]
    );
}

#[test]
fn second_open_is_ignored() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.open(h.now);
    assert!(h.actions().is_empty());
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn status_follows_phase() {
    let mut t = Tunnel::new(TunnelConfig::default(), 1);
    assert_eq!(t.status(), Status::Closed);
    assert_eq!(t.poll_timeout(), None);
    t.open(0);
    assert_eq!(t.status(), Status::Connecting);
    assert_eq!(t.poll_action(), Some(Action::FetchConnectUrl));
    assert_eq!(t.poll_timeout(), Some(15_000));
    t.handle_connect_url(10, Ok("ws://x".into()));
    assert_eq!(t.status(), Status::Connecting);
    t.handle_socket_open(20);
    assert_eq!(t.status(), Status::Active);
    t.handle_socket_close(30, 1006);
    assert_eq!(t.status(), Status::Reconnecting);
    t.close(40);
    assert_eq!(t.status(), Status::Closed);
}

#[test]
fn late_callbacks_are_ignored() {
    let mut t = Tunnel::new(TunnelConfig::default(), 1);
    t.handle_connect_url(0, Ok("ws://x".into()));
    t.handle_socket_open(0);
    t.handle_socket_message(0, "message:{\"type\":\"a\",\"content\":1}");
    t.handle_socket_close(0, 1006);
    t.handle_socket_error(0, "x");
    t.handle_timeout(u64::MAX);
    assert_eq!(t.status(), Status::Closed);
    assert_eq!(t.poll_action(), None);
    assert_eq!(t.poll_event(), None);
}
