//! Liveness on virtual time: the ping rhythm, the pong watchdog that any inbound frame
//! re-arms, and the server's `timeout:<s>` packet.

mod common;

use cometa_client::{Action, Event, Status, TunnelConfig};
use common::{Host, msg, send};

#[test]
fn pings_every_interval_and_reconnects_without_an_answer() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    assert_eq!(h.t.poll_timeout(), Some(15_000));
    h.advance_to(14_999);
    assert!(h.actions().is_empty());
    h.advance_to(15_000);
    assert_eq!(h.actions(), [send("ping")]);
    assert_eq!(h.t.poll_timeout(), Some(30_000));
    h.advance_to(29_999);
    assert!(h.actions().is_empty());
    assert_eq!(h.t.status(), Status::Active);
    h.advance_to(30_000);
    assert_eq!(h.actions(), [Action::CloseSocket]);
    assert_eq!(h.events(), [Event::Reconnecting]);
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.t.reconnect_attempts(), 1);
}

#[test]
fn pong_schedules_the_next_ping() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.advance_to(15_000);
    assert_eq!(h.actions(), [send("ping")]);
    h.advance_to(15_100);
    h.recv("pong");
    assert_eq!(h.t.poll_timeout(), Some(30_100));
    h.advance_to(30_099);
    assert!(h.actions().is_empty());
    h.advance_to(30_100);
    assert_eq!(h.actions(), [send("ping")]);
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn any_inbound_frame_rearms_the_watchdog() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.advance_to(15_000);
    assert_eq!(h.actions(), [send("ping")]);
    // No pong, but the server is clearly alive.
    h.advance_to(20_000);
    h.recv(r#"message:{"type":"tick","content":1}"#);
    h.advance_to(30_000);
    // The regular ping goes out; no reconnect.
    assert_eq!(h.actions(), [send("ping")]);
    assert_eq!(h.t.status(), Status::Active);
    // A frame of a type this version does not know counts too.
    h.advance_to(40_000);
    h.recv("hello-from-the-future");
    h.advance_to(50_000);
    h.recv("pong");
    h.advance_to(65_000);
    assert_eq!(h.t.status(), Status::Active);
    assert_eq!(h.actions(), [send("ping"), send("ping")]);
    assert_eq!(h.events(), [msg("tick", "1")]);
}

#[test]
fn throttled_host_timers_do_not_cause_false_disconnects() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    // A background tab: the ping timer fires late, at 70 s.
    h.now = 70_000;
    h.t.handle_timeout(h.now);
    assert_eq!(h.actions(), [send("ping")]);
    // The pong arrives promptly (socket events are not throttled)...
    h.now = 70_200;
    h.recv("pong");
    // ...and the next timer also runs a minute late: nothing is overdue but the ping.
    h.now = 150_000;
    h.t.handle_timeout(h.now);
    assert_eq!(h.actions(), [send("ping")]);
    assert_eq!(h.t.status(), Status::Active);
    assert!(h.events().is_empty());
}

#[test]
fn server_ping_is_answered() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.recv("ping");
    assert_eq!(h.actions(), [send("pong")]);
}

#[test]
fn timeout_packet_sets_the_ping_interval() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.advance_to(100);
    h.recv("timeout:5");
    assert_eq!(h.t.poll_timeout(), Some(5_100));
    h.advance_to(5_100);
    assert_eq!(h.actions(), [send("ping")]);
    h.advance_to(5_200);
    h.recv("pong");
    h.advance_to(10_200);
    assert_eq!(h.actions(), [send("ping")]);
    // Garbage is ignored, as in Wafer.
    h.recv("timeout:soon");
    h.recv("timeout");
    assert_eq!(h.t.poll_timeout(), Some(15_200));

    // The interval belongs to the connection: a new socket starts from the configured one.
    h.t.handle_socket_close(h.now, 1006);
    h.t.reconnect_now(h.now);
    h.actions();
    h.answer_and_open();
    assert_eq!(h.t.poll_timeout(), Some(h.now + 15_000));
}

#[test]
fn zero_delays_and_timeouts_cannot_hang_the_host() {
    let config = TunnelConfig {
        backoff_base_ms: 0,
        backoff_cap_ms: 0,
        ping_interval_ms: 0,
        pong_timeout_ms: 0,
        connect_timeout_ms: Some(0),
        max_reconnect_tries: None,
        max_outbox: 0,
        durable: false,
    };
    let mut h = Host::new(config);
    h.connect();
    // Every deadline lies strictly ahead once handled, so this loop ends.
    h.advance_to(10_000);
    assert!(h.t.poll_timeout().is_some_and(|t| t > 10_000));
}
