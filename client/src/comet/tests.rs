//! The session on virtual time: every scenario is a script of inputs at chosen instants and
//! the outputs they must produce, with no clock, socket or sleep.

use super::*;
use crate::TunnelConfig;
use crate::event::ERR_RECONNECT;

const AUTH_OK: &str = r#"reply:{"id":1,"result":{"user_id":"u","device":"dev-12345678","personal":{"epoch":"E","seq":0,"recovered":true}}}"#;

fn session() -> Session {
    Session::new(TunnelConfig::default(), 7)
}

fn creds() -> Option<Credentials> {
    Some(Credentials::Key {
        user_id: "u".into(),
        user_key: "k".into(),
    })
}

fn pos(seq: u64, epoch: &str) -> Position {
    Position {
        seq,
        epoch: epoch.into(),
    }
}

/// Every output but the state changes, which `states` checks on their own.
fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output())
        .filter(|o| !matches!(o, Output::State { .. }))
        .collect()
}

/// Only the state changes, as `(name, code, reason)`.
fn states(s: &mut Session) -> Vec<(&'static str, u32, String)> {
    std::iter::from_fn(|| s.poll_output())
        .filter_map(|o| match o {
            Output::State {
                state,
                code,
                reason,
            } => Some((state.name(), code, reason)),
            _ => None,
        })
        .collect()
}

fn sent(outs: &[Output]) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The seqs of the delivered messages, in order.
fn delivered(outs: &[Output]) -> Vec<Option<u64>> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Deliver { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

fn pub_frame(channel: &str, seq: u64) -> String {
    format!(r#"pub:{{"channel":"{channel}","event":"e","data":{{"n":{seq}}},"seq":{seq}}}"#)
}

/// Started, socket open, auth answered; outputs drained.
fn connected(personal: Option<Position>) -> Session {
    let mut s = session();
    s.start(0, creds(), "dev-12345678".into(), personal);
    s.handle_socket_open(10);
    s.handle_socket_message(20, AUTH_OK);
    drain(&mut s);
    s
}

#[test]
fn connect_authenticates_then_subscribes_then_flushes_the_queue() {
    let mut s = session();
    s.subscribe(0, "web_chat", Some(pos(3, "C")));
    s.publish(0, "web_chat", "say", r#"{"t":"hi"}"#);
    s.start(0, creds(), "dev-12345678".into(), Some(pos(5, "E")));
    assert_eq!(drain(&mut s), [Output::Open]);
    s.handle_socket_open(10);
    let outs = drain(&mut s);
    assert_eq!(outs[0], Output::Connected);
    assert_eq!(
        sent(&outs),
        [
            r#"auth:{"id":2,"user_id":"u","user_key":"k","device":"dev-12345678","since":{"seq":5,"epoch":"E"}}"#,
            r#"subscribe:{"id":3,"channel":"web_chat","since":{"seq":3,"epoch":"C"}}"#,
            r#"publish:{"id":1,"channel":"web_chat","event":"say","data":{"t":"hi"}}"#,
        ]
    );
    assert!(s.is_connected() && !s.is_authorized());
    s.handle_socket_message(
        20,
        r#"reply:{"id":2,"result":{"user_id":"u","device":"dev-12345678","personal":{"epoch":"E","seq":7,"recovered":true}}}"#,
    );
    let outs = drain(&mut s);
    assert!(s.is_authorized());
    assert!(outs.contains(&Output::Auth(Ok(Identity {
        user_id: "u".into(),
        device: "dev-12345678".into()
    }))));
    // Resumed in the same epoch: the position stays where the page was, the replay follows.
    assert_eq!(s.position("msg"), Some(&pos(5, "E")));
    s.handle_socket_message(30, r#"reply:{"id":1,"result":{"seq":9}}"#);
    assert_eq!(
        drain(&mut s),
        [Output::Report {
            channel: "web_chat".into(),
            event: "say".into(),
            outcome: Ok(Some(9))
        }]
    );
}

#[test]
fn anonymous_sends_a_ping_first_and_no_auth() {
    let mut s = session();
    s.start(0, None, "dev-12345678".into(), None);
    s.handle_socket_open(5);
    assert_eq!(sent(&drain(&mut s)), ["ping"]);
}

#[test]
fn personal_messages_are_delivered_once_saved_after_and_acked() {
    let mut s = connected(None);
    s.handle_socket_message(40, &pub_frame("msg", 1));
    let outs = drain(&mut s);
    assert_eq!(delivered(&outs), [Some(1)]);
    // Deliver, then Save, then the ack: the position moves only after the callbacks ran.
    assert!(matches!(&outs[0], Output::Deliver { epoch: Some(e), .. } if e == "E"));
    assert_eq!(
        outs[1],
        Output::Save {
            stream: "msg".into(),
            position: pos(1, "E")
        }
    );
    assert_eq!(outs[2], Output::Send(r#"ack:{"seq":1}"#.into()));
    // The same seq again (a replay overlapping the live stream): dropped.
    s.handle_socket_message(50, &pub_frame("msg", 1));
    assert_eq!(drain(&mut s), []);
    s.handle_socket_message(60, &pub_frame("msg", 2));
    assert_eq!(delivered(&drain(&mut s)), [Some(2)]);
}

#[test]
fn reconnect_resumes_every_stream_from_its_position() {
    let mut s = connected(None);
    s.subscribe(30, "web_room", None);
    drain(&mut s);
    s.handle_socket_message(
        40,
        r#"reply:{"id":2,"result":{"epoch":"R","seq":4,"recovered":true}}"#,
    );
    // Fresh subscription: it starts at the channel's top (history is a separate request).
    assert_eq!(
        drain(&mut s),
        [Output::Save {
            stream: "web_room".into(),
            position: pos(4, "R")
        }]
    );
    s.handle_socket_message(50, &pub_frame("web_room", 4));
    assert_eq!(drain(&mut s), [], "not newer than the top it subscribed at");
    s.handle_socket_message(60, &pub_frame("web_room", 5));
    s.handle_socket_message(70, &pub_frame("msg", 1));
    drain(&mut s);

    s.handle_socket_close(1000, 1006);
    assert!(!s.is_connected());
    let due = s.poll_timeout().expect("a reconnect is scheduled");
    assert!(
        (1000..=2000).contains(&due),
        "first backoff window is 1 s: {due}"
    );
    s.handle_timeout(due - 1);
    assert_eq!(drain(&mut s), []);
    s.handle_timeout(due);
    assert_eq!(drain(&mut s), [Output::Open]);
    s.handle_socket_open(due + 5);
    let outs = drain(&mut s);
    assert!(
        !outs.contains(&Output::Connected),
        "start's callback runs once"
    );
    let frames = sent(&outs);
    assert!(
        frames[0].contains(r#""since":{"seq":1,"epoch":"E"}"#),
        "{frames:?}"
    );
    assert!(frames[1].contains(r#""channel":"web_room","since":{"seq":5,"epoch":"R"}"#));
    // The replay overlaps what was seen: only the new one gets through.
    s.handle_socket_message(
        due + 10,
        r#"reply:{"id":4,"result":{"epoch":"R","seq":7,"recovered":true}}"#,
    );
    for seq in [5, 6, 7] {
        s.handle_socket_message(due + 20, &pub_frame("web_room", seq));
    }
    assert_eq!(delivered(&drain(&mut s)), [Some(6), Some(7)]);
}

#[test]
fn a_gap_outside_retention_is_reported_and_skipped() {
    let mut s = session();
    s.subscribe(0, "web_short", Some(pos(2, "S")));
    s.start(0, None, "dev-12345678".into(), None);
    s.handle_socket_open(10);
    drain(&mut s);
    s.handle_socket_message(
        20,
        r#"reply:{"id":1,"result":{"epoch":"S","seq":9,"recovered":false}}"#,
    );
    let outs = drain(&mut s);
    assert_eq!(
        outs,
        [
            Output::Save {
                stream: "web_short".into(),
                position: pos(9, "S")
            },
            Output::Gap {
                stream: "web_short".into(),
                position: pos(9, "S")
            }
        ]
    );
    s.handle_socket_message(30, &pub_frame("web_short", 10));
    assert_eq!(delivered(&drain(&mut s)), [Some(10)]);
}

#[test]
fn a_new_personal_epoch_restarts_the_count_and_keeps_the_replay() {
    let mut s = session();
    s.start(0, creds(), "dev-12345678".into(), Some(pos(8, "old")));
    s.handle_socket_open(10);
    drain(&mut s);
    s.handle_socket_message(
        20,
        r#"reply:{"id":1,"result":{"user_id":"u","device":"d","personal":{"epoch":"new","seq":2,"recovered":false}}}"#,
    );
    let outs = drain(&mut s);
    assert!(outs.contains(&Output::Gap {
        stream: "msg".into(),
        position: pos(0, "new")
    }));
    // The relay replays from its own cursor for the device: seqs 1 and 2 of the new epoch.
    s.handle_socket_message(30, &pub_frame("msg", 1));
    s.handle_socket_message(30, &pub_frame("msg", 2));
    assert_eq!(delivered(&drain(&mut s)), [Some(1), Some(2)]);
}

#[test]
fn requests_in_flight_on_a_lost_connection() {
    let mut s = connected(None);
    s.publish(30, "web_a", "e", "1");
    let h = s.history(30, "web_a", Some(10));
    let outs = drain(&mut s);
    assert_eq!(
        sent(&outs)[1],
        format!(r#"history:{{"id":{h},"channel":"web_a","limit":10}}"#)
    );
    let next = s.history_before(30, "web_a", Some(10), Some(7));
    assert_eq!(
        sent(&drain(&mut s))[0],
        format!(r#"history:{{"id":{next},"channel":"web_a","limit":10,"before":7}}"#)
    );
    s.handle_socket_message(
        31,
        &format!(r#"reply:{{"id":{next},"result":{{"publications":[],"more":false}}}}"#),
    );
    drain(&mut s);
    s.handle_socket_close(40, 1001);
    let outs = drain(&mut s);
    // The publish may or may not have been stored: reported, never re-sent.
    assert!(
        matches!(&outs[..], [Output::Report { outcome: Err(f), .. }] if f.code == ERR_UNKNOWN_OUTCOME)
    );
    let due = s.poll_timeout().expect("reconnect");
    s.handle_timeout(due);
    s.handle_socket_open(due);
    let frames: Vec<String> = sent(&drain(&mut s))
        .into_iter()
        .map(str::to_owned)
        .collect();
    // The read is asked again, under its id, after auth.
    assert!(frames[0].starts_with("auth:"));
    assert!(frames[1].starts_with(&format!(r#"history:{{"id":{h},"#)));
    s.handle_socket_message(
        due + 1,
        &format!(r#"reply:{{"id":{h},"result":{{"publications":[]}}}}"#),
    );
    assert_eq!(
        drain(&mut s),
        [Output::Reply {
            id: h,
            outcome: Ok(r#"{"publications":[]}"#.into())
        }]
    );
}

#[test]
fn the_offline_queue_is_bounded() {
    let config = TunnelConfig {
        max_outbox: 2,
        ..TunnelConfig::default()
    };
    let mut s = Session::new(config, 1);
    s.publish(0, "web_a", "e", "1");
    s.publish(0, "web_a", "e", "2");
    assert_eq!(drain(&mut s), []);
    s.publish(0, "web_a", "e", "3");
    let outs = drain(&mut s);
    assert!(
        matches!(&outs[..], [Output::Report { outcome: Err(f), .. }] if f.code == ERR_OUTBOX_OVERFLOW)
    );
    s.start(0, None, "dev-12345678".into(), None);
    s.handle_socket_open(1);
    let outs = drain(&mut s);
    let frames = sent(&outs);
    assert_eq!(frames.len(), 3, "ping + the two newest: {frames:?}");
    assert!(frames[1].ends_with(r#""data":2}"#) && frames[2].ends_with(r#""data":3}"#));
}

#[test]
fn liveness_pings_and_gives_up_on_silence() {
    let mut s = connected(None);
    // The session pinged nothing yet; the first ping is one interval after the open (10).
    assert_eq!(s.poll_timeout(), Some(10 + 15_000));
    s.handle_timeout(15_010);
    assert_eq!(sent(&drain(&mut s)), ["ping"]);
    // Any frame clears the deadline, as a pong does.
    s.handle_socket_message(15_100, &pub_frame("msg", 1));
    drain(&mut s);
    s.handle_timeout(30_010);
    assert_eq!(sent(&drain(&mut s)), ["ping"]);
    let deadline = s.poll_timeout().expect("deadline");
    assert_eq!(deadline, 30_010 + 15_000);
    s.handle_timeout(deadline);
    let outs = drain(&mut s);
    assert!(outs.contains(&Output::Close));
    assert!(!s.is_connected() && s.is_started());
}

#[test]
fn terminal_closes_stop_the_session() {
    let mut s = connected(None);
    s.handle_socket_message(50, "close");
    s.handle_socket_close(51, 1006);
    let outs = drain(&mut s);
    assert!(matches!(outs.last(), Some(Output::Stopped(f)) if f.code == 1006));
    assert_eq!(s.poll_timeout(), None, "no reconnect");
    let mut s = connected(None);
    s.handle_socket_close(51, 4502);
    assert!(matches!(drain(&mut s).last(), Some(Output::Stopped(f)) if f.code == 4502));
    assert!(!s.is_started());
}

#[test]
fn auth_refused_leaves_an_anonymous_connection() {
    let mut s = session();
    s.start(0, creds(), "dev-12345678".into(), None);
    s.handle_socket_open(1);
    drain(&mut s);
    s.handle_socket_message(
        2,
        r#"reply:{"id":1,"error":{"code":4004,"message":"bad key"}}"#,
    );
    assert_eq!(
        drain(&mut s),
        [Output::Auth(Err(Failure::new(ERR_UNAUTHORIZED, "bad key")))]
    );
    assert!(s.is_connected() && !s.is_authorized());
}

#[test]
fn unsubscribed_channels_go_quiet_and_refusals_are_reported() {
    let mut s = connected(None);
    s.subscribe(1, "web_a", None);
    s.subscribe(1, "web_a", None);
    s.subscribe(1, "private_x", None);
    assert_eq!(sent(&drain(&mut s)).len(), 2, "one subscribe per channel");
    s.handle_socket_message(
        2,
        r#"reply:{"id":3,"error":{"code":4005,"message":"needs auth"}}"#,
    );
    assert!(
        matches!(&drain(&mut s)[..], [Output::Refused { channel, .. }] if channel == "private_x")
    );
    s.unsubscribe(3, "web_a");
    assert!(sent(&drain(&mut s))[0].starts_with(r#"unsubscribe:{"id":4,"channel":"web_a"}"#));
    s.handle_socket_message(4, &pub_frame("web_a", 1));
    assert_eq!(drain(&mut s), []);
    assert_eq!(s.channels().collect::<Vec<_>>(), ["private_x"]);
}

#[test]
fn live_only_frames_pass_without_positions() {
    let mut s = connected(None);
    s.subscribe(1, "track_online", None);
    drain(&mut s);
    s.handle_socket_message(
        2,
        r#"reply:{"id":2,"result":{"epoch":"","seq":0,"recovered":true}}"#,
    );
    assert_eq!(drain(&mut s), []);
    for _ in 0..2 {
        s.handle_socket_message(
            3,
            r#"pub:{"channel":"track_online","event":"subscription","data":{"user_id":"b","uuid":"d-b"}}"#,
        );
    }
    assert_eq!(delivered(&drain(&mut s)), [None, None]);
}

#[test]
fn stop_settles_everything_and_start_again_resubscribes() {
    let mut s = connected(None);
    s.subscribe(1, "web_a", None);
    let q = s.presence(1, "web_a");
    drain(&mut s);
    s.stop(2);
    let outs = drain(&mut s);
    assert_eq!(sent(&outs), ["close"]);
    assert!(outs.contains(&Output::Close));
    assert!(outs.iter().any(
        |o| matches!(o, Output::Reply { id, outcome: Err(f) } if *id == q && f.code == ERR_STOPPED)
    ));
    assert_eq!(s.poll_timeout(), None);
    s.start(3, None, "dev-12345678".into(), None);
    s.handle_socket_open(4);
    assert!(sent(&drain(&mut s))[1].starts_with(r#"subscribe:{"id":"#));
}

#[test]
fn connect_timeout_and_restart_while_running() {
    let mut s = session();
    s.start(0, None, "dev-12345678".into(), None);
    drain(&mut s);
    s.handle_timeout(15_000);
    let outs = drain(&mut s);
    assert_eq!(outs, [Output::Close]);
    assert!(s.poll_timeout().is_some_and(|t| t <= 16_000));
    // `start` while waiting: connect at once, no stale socket reported.
    s.start(15_001, creds(), "dev-12345678".into(), None);
    assert_eq!(drain(&mut s), [Output::Open]);
    s.reconnect_now(15_002);
    assert_eq!(drain(&mut s), [], "only a waiting session reconnects early");
}

#[test]
fn state_events_follow_the_connection() {
    let mut s = session();
    s.start(0, creds(), "dev-12345678".into(), None);
    assert_eq!(states(&mut s), [("connecting", 0, "start".into())]);
    s.handle_socket_open(10);
    assert_eq!(states(&mut s), [("connected", 0, String::new())]);
    s.handle_socket_close(20, 1006);
    assert_eq!(
        states(&mut s),
        [("connecting", 1006, "connection closed".into())]
    );
    // A failed retry is not news: still connecting.
    let due = s.poll_timeout().expect("retry");
    s.handle_timeout(due);
    s.handle_socket_close(due + 1, 1006);
    assert_eq!(states(&mut s), []);
    let due = s.poll_timeout().expect("retry");
    s.handle_timeout(due);
    s.handle_socket_open(due + 1);
    assert_eq!(states(&mut s), [("connected", 0, String::new())]);
    s.stop(due + 2);
    assert_eq!(states(&mut s), [("disconnected", 0, "stopped".into())]);
    s.stop(due + 3);
    assert_eq!(states(&mut s), [], "stopped already");

    let mut s = connected(None);
    s.handle_socket_close(51, 4502);
    assert_eq!(
        states(&mut s),
        [("disconnected", 4502, "closed by the relay".into())]
    );

    let mut s = Session::new(
        TunnelConfig {
            max_reconnect_tries: Some(1),
            ..TunnelConfig::default()
        },
        7,
    );
    s.start(0, None, "dev-12345678".into(), None);
    s.handle_socket_close(1, 1006);
    let due = s.poll_timeout().expect("retry");
    s.handle_timeout(due);
    s.handle_socket_close(due + 1, 1006);
    assert_eq!(
        states(&mut s),
        [
            ("connecting", 0, "start".into()),
            (
                "disconnected",
                ERR_RECONNECT,
                "gave up after 1 reconnect tries".into()
            )
        ]
    );
}

#[test]
fn auth_carries_a_token_or_a_session_key_instead_of_a_user_key() {
    for (creds, field) in [
        (Credentials::Token("jwt".into()), r#""token":"jwt""#),
        (Credentials::Skey("sk".into()), r#""skey":"sk""#),
    ] {
        let mut s = session();
        s.start(0, Some(creds), "dev-12345678".into(), None);
        s.handle_socket_open(10);
        let outs = drain(&mut s);
        let auth = sent(&outs)[0];
        assert!(auth.starts_with("auth:") && auth.contains(field), "{auth}");
        assert!(!auth.contains("user_key"), "{auth}");
    }
}
