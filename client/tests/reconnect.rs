//! Losing the connection on virtual time: jittered backoff, `reconnect_now`, giving up after
//! `max_reconnect_tries`, and the close-code classes.

mod common;

use cometa_client::event::ERR_RECONNECT;
use cometa_client::{Action, Event, Status, TunnelConfig, backoff};
use common::{Host, URL, send};

#[test]
fn unexpected_close_backs_off_within_the_jitter_window() {
    let config = TunnelConfig {
        backoff_base_ms: 1000,
        backoff_cap_ms: 30_000,
        ..TunnelConfig::default()
    };
    let mut h = Host::new(config);
    h.connect();
    h.now = 1_000;
    h.t.handle_socket_close(h.now, 1006);
    assert!(h.actions().is_empty(), "the socket is already closed");
    assert_eq!(h.events(), [Event::Reconnecting]);
    assert_eq!(h.t.status(), Status::Reconnecting);

    for n in 0..10u32 {
        assert_eq!(h.t.reconnect_attempts(), n + 1);
        let due = h.t.poll_timeout().unwrap_or(u64::MAX);
        let delay = due - h.now;
        assert!(
            delay <= backoff::ceiling_ms(n, 1000, 30_000),
            "attempt {n}: delay {delay}"
        );
        h.advance_to(due);
        assert_eq!(h.actions(), [Action::FetchConnectUrl]);
        assert_eq!(h.t.status(), Status::Reconnecting);
        // The service is still down: a later failure retries, no 1001, no second event.
        h.t.handle_connect_url(h.now, Err("503".into()));
        assert!(h.events().is_empty());
    }
    // The service comes back.
    h.advance_to(h.t.poll_timeout().unwrap_or(u64::MAX));
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.answer_and_open();
    assert_eq!(h.events(), [Event::Reconnect]);
    assert_eq!(h.t.reconnect_attempts(), 0);
}

#[test]
fn jitter_differs_across_seeds() {
    let mut first_delays = Vec::new();
    for seed in 0..200u64 {
        let mut h = Host::seeded(TunnelConfig::default(), seed);
        h.connect();
        h.t.handle_socket_close(h.now, 1001);
        let delay = h.t.poll_timeout().unwrap_or(u64::MAX) - h.now;
        assert!(delay <= 1000, "seed {seed}: {delay}");
        first_delays.push(delay);
    }
    first_delays.sort_unstable();
    first_delays.dedup();
    // Two hundred uniform draws from [0, 1000] give well over a hundred distinct values.
    assert!(first_delays.len() > 100, "{first_delays:?}");
}

#[test]
fn reconnect_now_skips_the_wait() {
    let config = TunnelConfig {
        backoff_base_ms: 60_000,
        backoff_cap_ms: 60_000,
        ..TunnelConfig::default()
    };
    let mut h = Host::new(config);
    h.connect();
    // No-op while active.
    h.t.reconnect_now(h.now);
    assert!(h.actions().is_empty());

    h.t.handle_socket_close(h.now, 1006);
    h.events();
    assert!(h.actions().is_empty());
    h.now += 10;
    h.t.reconnect_now(h.now);
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    // A second call while the fetch is pending does not fetch twice.
    h.t.reconnect_now(h.now);
    assert!(h.actions().is_empty());
    h.answer_and_open();
    assert_eq!(h.events(), [Event::Reconnect]);
}

#[test]
fn gives_up_after_max_reconnect_tries() {
    let config = TunnelConfig {
        max_reconnect_tries: Some(3),
        ..TunnelConfig::default()
    };
    let mut h = Host::new(config);
    h.connect();
    h.t.handle_socket_close(h.now, 1006);
    assert_eq!(h.events(), [Event::Reconnecting]);
    for _ in 0..3 {
        h.advance_to(h.t.poll_timeout().unwrap_or(u64::MAX));
        assert_eq!(h.actions(), [Action::FetchConnectUrl]);
        h.t.handle_connect_url(h.now, Err("offline".into()));
    }
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.t.poll_timeout(), None);
    let events = h.events();
    assert_eq!(events.first(), Some(&Event::Close));
    assert_eq!(Host::error_codes(&events), [ERR_RECONNECT]);
    assert!(h.actions().is_empty());
}

#[test]
fn max_tries_counts_socket_failures_and_pong_timeouts_too() {
    let config = TunnelConfig {
        max_reconnect_tries: Some(1),
        ..TunnelConfig::default()
    };
    let mut h = Host::new(config);
    h.connect();
    // Pong timeout: the socket is abandoned, one try is allowed.
    h.advance_to(30_000);
    assert_eq!(h.actions(), [send("ping"), Action::CloseSocket]);
    h.advance_to(h.t.poll_timeout().unwrap_or(u64::MAX));
    assert_eq!(h.actions(), [Action::FetchConnectUrl]);
    h.t.handle_connect_url(h.now, Ok(URL.into()));
    h.actions();
    h.t.handle_socket_close(h.now, 1006);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(
        Host::error_codes(&h.events()),
        [ERR_RECONNECT],
        "no 1002 once retrying"
    );
}

#[test]
fn terminal_close_code_closes_the_tunnel() {
    let mut h = Host::new(TunnelConfig::default());
    h.connect();
    h.t.handle_socket_close(h.now, 4502);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.t.poll_timeout(), None);
    assert!(h.actions().is_empty());
    let events = h.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], Event::Close);
    assert!(
        matches!(&events[1], Event::Error { code: 4502, message } if message.contains("session revoked"))
    );
    h.advance(120_000);
    assert!(h.actions().is_empty());
    assert_eq!(h.t.status(), Status::Closed);
}

#[test]
fn terminal_close_before_open_also_closes() {
    let mut h = Host::new(TunnelConfig::default());
    h.t.open(0);
    h.t.handle_connect_url(0, Ok(URL.into()));
    h.actions();
    h.t.handle_socket_close(0, 4503);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(Host::error_codes(&h.events()), [4503]);
}

#[test]
fn reconnect_class_codes_reconnect() {
    for code in [1000, 1001, 1006, 1011, 4001, 4002, 4499, 5000] {
        let mut h = Host::new(TunnelConfig::default());
        h.connect();
        h.t.handle_socket_close(h.now, code);
        assert_eq!(h.t.status(), Status::Reconnecting, "code {code}");
    }
}
