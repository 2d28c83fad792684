//! The link on virtual time: every scenario is a script of inputs at chosen instants and what
//! the link must answer, with no clock, socket or sleep.

use super::*;

const SEED: u64 = 0x5EED;

fn link(config: TunnelConfig) -> Link {
    Link::new(config, SEED, false)
}

/// Started, socket open at `now`; returns the open attempt's generation.
fn open(l: &mut Link, now: u64) -> u32 {
    assert!(l.start(now));
    let generation = l.generation();
    assert_eq!(l.opened(generation, now), Some(false));
    generation
}

/// The delays the link must choose: attempt `n` draws the `n`-th number of the same source.
fn expected_delays(config: &TunnelConfig, n: u32) -> Vec<u64> {
    let mut rng = Rng::new(SEED);
    (0..n)
        .map(|i| {
            let u = rng.next_unit();
            backoff::delay_ms(i, config.backoff_base_ms, config.backoff_cap_ms, u)
        })
        .collect()
}

#[test]
fn backoff_grows_per_failed_try_up_to_the_cap() {
    let config = TunnelConfig {
        backoff_base_ms: 1000,
        backoff_cap_ms: 4000,
        ..TunnelConfig::default()
    };
    let mut l = link(config.clone());
    let mut g = open(&mut l, 0);
    let mut now = 100;
    assert_eq!(l.socket_closed(g, 1006), Closed::Lost);
    let mut delays = Vec::new();
    for n in 0..8u32 {
        assert_eq!(l.retry(now), Retry::Wait { first: n == 0 });
        assert_eq!(l.attempts(), n + 1);
        assert_eq!(l.status(), Status::Reconnecting);
        let due = l.next_deadline().expect("a wait");
        delays.push(due - now);
        assert_eq!(l.fire(due - 1), None, "not before its time");
        assert_eq!(l.fire(due), Some(Due::Connect));
        g = l.generation();
        now = due + 10;
        // The socket fails before opening: the next try waits longer.
        assert_eq!(l.socket_closed(g, 1006), Closed::Failed);
    }
    assert_eq!(delays, expected_delays(&config, 8));
    for (n, d) in (0..).zip(&delays) {
        assert!(*d <= backoff::ceiling_ms(n, 1000, 4000), "try {n}: {d}");
    }
    // Past the third try every window is the cap's; a socket that opens starts over.
    assert_eq!(backoff::ceiling_ms(7, 1000, 4000), 4000);
    l.retry(now);
    let due = l.next_deadline().unwrap_or(u64::MAX);
    assert_eq!(l.fire(due), Some(Due::Connect));
    assert_eq!(l.opened(l.generation(), due), Some(true), "a reconnect");
    assert_eq!((l.attempts(), l.retrying()), (0, false));
}

#[test]
fn gives_up_after_max_tries() {
    let mut l = link(TunnelConfig {
        max_reconnect_tries: Some(3),
        ..TunnelConfig::default()
    });
    let g = open(&mut l, 0);
    assert_eq!(l.socket_closed(g, 1006), Closed::Lost);
    for _ in 0..3 {
        assert!(matches!(l.retry(0), Retry::Wait { .. }));
        let due = l.next_deadline().unwrap_or(u64::MAX);
        assert_eq!(l.fire(due), Some(Due::Connect));
    }
    assert_eq!(l.retry(0), Retry::GaveUp { tries: 3 });
    assert!(l.is_closed());
    assert_eq!(l.next_deadline(), None);
    assert_eq!(l.fire(u64::MAX), None);
    // A new life after giving up counts from zero again.
    assert!(l.start(1));
    assert_eq!(l.attempts(), 0);
}

#[test]
fn each_connect_step_times_out() {
    let mut l = Link::new(TunnelConfig::default(), SEED, true);
    assert!(l.start(0));
    assert_eq!(l.status(), Status::Connecting);
    assert!(l.fetching(l.generation()));
    assert_eq!(l.next_deadline(), Some(15_000));
    assert_eq!(l.fire(14_999), None);
    assert_eq!(l.fire(15_000), Some(Due::FetchTimedOut));
    l.retry(15_000);
    let due = l.next_deadline().unwrap_or(u64::MAX);
    assert_eq!(l.fire(due), Some(Due::Connect));
    // The URL came late in the window: the socket gets a window of its own.
    l.fetched(due + 14_000);
    assert!(!l.fetching(l.generation()));
    assert!(l.has_socket() && !l.is_open());
    assert_eq!(l.next_deadline(), Some(due + 29_000));
    assert_eq!(l.fire(due + 29_000), Some(Due::OpenTimedOut));

    // No limit configured: a stalled attempt has no deadline.
    let mut l = link(TunnelConfig {
        connect_timeout_ms: None,
        ..TunnelConfig::default()
    });
    l.start(0);
    assert_eq!(l.next_deadline(), None);
}

#[test]
fn silence_after_a_ping_is_a_lost_connection_and_any_frame_rearms() {
    let mut l = link(TunnelConfig::default());
    let g = open(&mut l, 0);
    assert_eq!(l.next_deadline(), Some(15_000));
    assert_eq!(l.fire(15_000), Some(Due::Ping));
    assert_eq!(l.next_deadline(), Some(30_000), "pong deadline, then ping");
    // A message, not a pong, proves the connection alive too.
    let message = Packet::parse(r#"message:{"type":"t","content":1}"#);
    assert_eq!(l.inbound(g, 20_000, &message), Frame::Dialect);
    assert_eq!(l.fire(30_000), Some(Due::Ping));
    assert_eq!(l.fire(30_000), None);
    assert_eq!(l.inbound(g, 30_500, &Packet::parse("pong")), Frame::Taken);
    assert_eq!(
        l.next_deadline(),
        Some(45_500),
        "one interval after the pong"
    );
    assert_eq!(l.fire(45_500), Some(Due::Ping));
    assert_eq!(l.fire(60_499), None);
    assert_eq!(l.fire(60_500), Some(Due::Silent));
    assert!(l.is_open(), "the dialect closes the socket, then retries");
    assert_eq!(l.retry(60_500), Retry::Wait { first: true });
    // The server's own ping is answered; the server may set this socket's period.
    let g = l.generation();
    l.wake(61_000);
    let g2 = l.generation();
    assert_ne!(g, g2);
    l.opened(g2, 61_000);
    assert_eq!(l.inbound(g2, 61_000, &Packet::parse("ping")), Frame::Ping);
    l.timeout_packet(61_000, Some("3"));
    assert_eq!(l.next_deadline(), Some(64_000));
    l.timeout_packet(61_000, Some("0.1"));
    assert_eq!(l.next_deadline(), Some(62_000), "never under the floor");
}

#[test]
fn wake_up_ends_a_backoff_wait_at_once() {
    let mut l = link(TunnelConfig {
        backoff_base_ms: 60_000,
        backoff_cap_ms: 60_000,
        ..TunnelConfig::default()
    });
    assert!(!l.wake(0), "closed: nothing to wake");
    let g = open(&mut l, 0);
    assert!(!l.wake(1), "open: nothing to wake");
    l.socket_closed(g, 1006);
    l.retry(10);
    assert!(l.phase() == Phase::Waiting);
    assert!(l.wake(20));
    assert!(l.has_socket() && l.generation() != g);
    assert_eq!(
        l.next_deadline(),
        Some(20 + 15_000),
        "the connect timeout, not the wait"
    );
    assert!(!l.wake(21), "one attempt at a time");
    assert_eq!(l.opened(l.generation(), 30), Some(true));
}

#[test]
fn late_events_of_an_older_socket_are_ignored() {
    let mut l = link(TunnelConfig::default());
    let old = open(&mut l, 0);
    // The watchdog gives the old socket up; a new attempt begins.
    assert_eq!(l.fire(15_000), Some(Due::Ping));
    assert_eq!(l.fire(30_000), Some(Due::Silent));
    l.retry(30_000);
    assert_eq!(
        l.socket_closed(old, 1006),
        Closed::Stale,
        "already given up"
    );
    assert!(l.wake(30_001));
    let new = l.generation();
    // The old socket's close, even a terminal one, and its frames arrive late.
    assert_eq!(l.socket_closed(old, 1006), Closed::Stale);
    assert_eq!(l.socket_closed(old, 4502), Closed::Stale);
    assert_eq!(l.opened(old, 30_002), None);
    assert!(l.has_socket() && !l.is_open());
    assert_eq!(l.opened(new, 30_003), Some(true));
    let ping = Packet::parse("ping");
    assert_eq!(l.inbound(old, 30_004, &ping), Frame::Stale);
    assert_eq!(l.inbound(new, 30_004, &ping), Frame::Ping);
    assert_eq!(l.socket_closed(new, 4502), Closed::Terminal);
    assert!(l.is_closed());
}

#[test]
fn an_announced_end_makes_any_close_terminal() {
    let mut l = link(TunnelConfig::default());
    let g = open(&mut l, 0);
    l.ending();
    assert_eq!(l.socket_closed(g, 1006), Closed::Terminal);
    // A new socket starts without it.
    let g = open(&mut l, 1);
    assert_eq!(l.socket_closed(g, 1006), Closed::Lost);
}

#[test]
fn timeout_values() {
    assert_eq!(parse_timeout(Some("5")), Some(5000));
    assert_eq!(parse_timeout(Some(" 2.5 ")), Some(2500));
    assert_eq!(parse_timeout(Some("0.1")), Some(MIN_PING_INTERVAL_MS));
    assert_eq!(parse_timeout(Some("0")), None);
    assert_eq!(parse_timeout(Some("-3")), None);
    assert_eq!(parse_timeout(Some("NaN")), None);
    assert_eq!(parse_timeout(Some("inf")), None);
    assert_eq!(parse_timeout(Some("\"5\"")), None);
    assert_eq!(parse_timeout(None), None);
    // Up to u64::MAX ms (saturated), never an overflow.
    assert_eq!(
        parse_timeout(Some("18446744073709551")),
        Some(18_446_744_073_709_551_000)
    );
    assert_eq!(parse_timeout(Some("18446744073709551.999")), Some(u64::MAX));
    assert_eq!(parse_timeout(Some("18446744073709552")), None);
    assert_eq!(parse_timeout(Some("18446744073709551616")), None);
    assert_eq!(parse_timeout(Some("99999999999999999999")), None);
}
