//! A durable session's publishes on virtual time: keyed, kept until a reply names them, sent
//! again on every new socket, persisted for a reload, and restored from that copy.

use super::*;
use crate::TunnelConfig;
use crate::json::Object;
use cometa_protocol::native::code::LIMIT_EXCEEDED;

fn durable(max_outbox: usize) -> Session {
    let config = TunnelConfig {
        durable: true,
        max_outbox,
        ..TunnelConfig::default()
    };
    Session::new(config, 7)
}

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output())
        .filter(|o| !matches!(o, Output::State { .. }))
        .collect()
}

fn sent(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The last persisted list, if any output asked to persist.
fn persisted(outs: &[Output]) -> Option<String> {
    outs.iter().rev().find_map(|o| match o {
        Output::Persist(t) => Some(t.clone()),
        _ => None,
    })
}

fn reports(outs: &[Output]) -> Vec<Result<Option<u64>, u32>> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Report { outcome, .. } => Some(outcome.clone().map_err(|f| f.code)),
            _ => None,
        })
        .collect()
}

/// A sent `publish:` frame's `(id, mid, data)`.
fn publish_of(frame: &str) -> (u64, String, String) {
    let body = frame.strip_prefix("publish:").expect("a publish frame");
    let o = Object::scan(body).expect("JSON");
    (
        o.u64("id").expect("id"),
        o.string("mid").expect("mid").into_owned(),
        o.raw("data").expect("data").to_owned(),
    )
}

/// The publishes among the frames the session sent since the last drain.
fn sent_publishes(s: &mut Session) -> Vec<(u64, String, String)> {
    sent(&drain(s))
        .iter()
        .filter(|f| f.starts_with("publish:"))
        .map(|f| publish_of(f))
        .collect()
}

/// Anonymous: the socket's first frame is a ping, then the publishes.
fn open(s: &mut Session, now: u64) -> Vec<(u64, String, String)> {
    s.handle_socket_open(now);
    sent_publishes(s)
}

fn reply_seq(s: &mut Session, now: u64, id: u64, seq: u64) {
    s.handle_socket_message(
        now,
        &format!(r#"reply:{{"id":{id},"result":{{"seq":{seq}}}}}"#),
    );
}

#[test]
fn offline_publishes_are_keyed_kept_and_sent_until_answered() {
    let mut s = durable(100);
    s.start(0, None, "dev-12345678".into(), None);
    drain(&mut s);
    for n in 1..=3 {
        s.publish(1, "web_a", "e", &n.to_string());
    }
    let outs = drain(&mut s);
    assert!(sent(&outs).is_empty(), "offline: nothing sent");
    let stored = persisted(&outs).expect("persisted");
    let lines: Vec<&str> = stored.split('\n').collect();
    assert_eq!(lines.len(), 3, "{stored}");
    assert!(
        lines[0].starts_with(r#"{"mid":""#) && !lines[0].contains("\"id\""),
        "{stored}"
    );
    assert_eq!(s.unanswered(), 3);

    // First socket: all three in order, each with its own 16-character key.
    let first = open(&mut s, 10);
    let data: Vec<&str> = first.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(data, ["1", "2", "3"]);
    assert!(first.iter().all(|p| p.1.len() == 16));
    assert_ne!(first[0].1, first[1].1);
    reply_seq(&mut s, 20, first[0].0, 7);
    let outs = drain(&mut s);
    assert_eq!(reports(&outs), [Ok(Some(7))]);
    assert_eq!(persisted(&outs).map(|p| p.split('\n').count()), Some(2));

    // Lost before the other replies: no unknown outcome, the same keys go again.
    s.handle_socket_close(30, 1006);
    assert!(reports(&drain(&mut s)).is_empty(), "kept, not reported");
    s.handle_timeout(60_000);
    drain(&mut s);
    let again = open(&mut s, 60_010);
    let keys: Vec<&str> = again.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(keys, [first[1].1.as_str(), first[2].1.as_str()]);
    reply_seq(&mut s, 60_020, again[0].0, 8);
    // Refused for good: it leaves the list too.
    s.handle_socket_message(
        60_030,
        &format!(
            r#"reply:{{"id":{},"error":{{"code":4005,"message":"no"}}}}"#,
            again[1].0
        ),
    );
    let outs = drain(&mut s);
    assert_eq!(reports(&outs), [Ok(Some(8)), Err(4005)]);
    assert_eq!(persisted(&outs).as_deref(), Some(""));
    assert_eq!(s.unanswered(), 0);
}

#[test]
fn a_reload_restores_the_list_and_sends_it_with_the_same_keys() {
    let mut before = durable(100);
    before.publish(0, "web_a", "say", r#"{"t":"x\ny"}"#);
    before.publish(0, "web_b", "say", "2");
    let stored = persisted(&drain(&mut before)).expect("persisted");

    let mut after = durable(100);
    after.restore(&format!(
        "not json\n{stored} \n{{\"channel\":\"web_c\",\"data\":1}}"
    ));
    assert_eq!(after.unanswered(), 2, "bad and unkeyed lines skipped");
    assert_eq!(
        persisted(&drain(&mut after)).as_deref(),
        Some(stored.as_str())
    );
    after.start(0, None, "dev-12345678".into(), None);
    drain(&mut after);
    let sent = open(&mut after, 10);
    let data: Vec<&str> = sent.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(data, [r#"{"t":"x\ny"}"#, "2"]);
    assert!(stored.contains(&sent[0].1) && stored.contains(&sent[1].1));

    // Not durable (`persist: false`): nothing is restored, publishes are not kept.
    let mut plain = Session::new(TunnelConfig::default(), 7);
    plain.restore(&stored);
    plain.publish(0, "web_a", "e", "1");
    assert_eq!(plain.unanswered(), 0);
    assert_eq!(persisted(&drain(&mut plain)), None);
}

#[test]
fn stop_keeps_them_and_a_full_list_drops_the_oldest() {
    let mut s = durable(2);
    for n in 1..=3 {
        s.publish(0, "web_a", "e", &n.to_string());
    }
    let outs = drain(&mut s);
    assert_eq!(reports(&outs), [Err(ERR_OUTBOX_OVERFLOW)]);
    assert_eq!(s.unanswered(), 2);
    s.start(0, None, "dev-12345678".into(), None);
    drain(&mut s);
    assert_eq!(open(&mut s, 10).len(), 2);
    s.stop(20);
    assert!(
        reports(&drain(&mut s)).is_empty(),
        "kept for the next start"
    );
    s.start(30, None, "dev-12345678".into(), None);
    drain(&mut s);
    let again: Vec<String> = open(&mut s, 40).into_iter().map(|p| p.2).collect();
    assert_eq!(again, ["2", "3"]);
}

fn refuse(s: &mut Session, now: u64, id: u64, code: u32) {
    s.handle_socket_message(
        now,
        &format!(r#"reply:{{"id":{id},"error":{{"code":{code},"message":"slow down"}}}}"#),
    );
}

#[test]
fn publishes_refused_for_the_rate_stay_kept_and_go_again_after_a_backoff() {
    let mut s = durable(100);
    for n in 1..=5 {
        s.publish(0, "web_a", "e", &n.to_string());
    }
    s.start(0, None, "dev-12345678".into(), None);
    drain(&mut s);
    let first = open(&mut s, 10);
    assert_eq!(first.len(), 5);
    // The relay's burst is 2: the first two are stored, the rest refused with 4006.
    reply_seq(&mut s, 20, first[0].0, 1);
    reply_seq(&mut s, 20, first[1].0, 2);
    for p in &first[2..] {
        refuse(&mut s, 20, p.0, u32::from(LIMIT_EXCEEDED));
    }
    let outs = drain(&mut s);
    assert_eq!(
        reports(&outs),
        [Ok(Some(1)), Ok(Some(2))],
        "refusals not reported"
    );
    assert_eq!(s.unanswered(), 3);
    let at = 20 + TunnelConfig::default().backoff_base_ms;
    assert_eq!(
        s.poll_timeout(),
        Some(at),
        "the resend is the next deadline"
    );

    s.handle_timeout(at - 1);
    assert!(sent(&drain(&mut s)).is_empty(), "not before the backoff");
    s.handle_timeout(at);
    let again: Vec<(u64, String, String)> =
        sent(&drain(&mut s)).iter().map(|f| publish_of(f)).collect();
    let keys: Vec<&str> = again.iter().map(|p| p.1.as_str()).collect();
    let want: Vec<&str> = first[2..].iter().map(|p| p.1.as_str()).collect();
    assert_eq!(keys, want, "the refused ones, same keys, in order");

    // One more refusal, then answers: each reported once.
    reply_seq(&mut s, at + 5, again[0].0, 3);
    refuse(&mut s, at + 5, again[1].0, u32::from(LIMIT_EXCEEDED));
    reply_seq(&mut s, at + 5, again[2].0, 5);
    drain(&mut s);
    let at2 = at + 5 + TunnelConfig::default().backoff_base_ms;
    s.handle_timeout(at2);
    let last: Vec<(u64, String, String)> =
        sent(&drain(&mut s)).iter().map(|f| publish_of(f)).collect();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].2, "4");
    reply_seq(&mut s, at2 + 5, last[0].0, 4);
    assert_eq!(reports(&drain(&mut s)), [Ok(Some(4))]);
    assert_eq!(s.unanswered(), 0);
}

/// The publishes sent when the timers run at `at` (a ping may go too).
fn resent(s: &mut Session, at: u64) -> Vec<(u64, String, String)> {
    s.handle_timeout(at);
    sent_publishes(s)
}

#[test]
fn repeated_rate_refusals_back_off_up_to_the_cap_and_reset_once_accepted() {
    let config = TunnelConfig {
        durable: true,
        backoff_base_ms: 1000,
        backoff_cap_ms: 4000,
        ..TunnelConfig::default()
    };
    let mut s = Session::new(config, 7);
    for n in 1..=2 {
        s.publish(0, "web_a", "e", &n.to_string());
    }
    s.start(0, None, "dev-12345678".into(), None);
    drain(&mut s);
    for p in open(&mut s, 10) {
        refuse(&mut s, 20, p.0, u32::from(LIMIT_EXCEEDED));
    }
    drain(&mut s);
    // Each round refused in full waits twice as long as the last, up to the cap; the two
    // refusals of one round count once.
    let mut at = 20;
    for wait in [1000, 2000, 4000, 4000] {
        assert_eq!(s.poll_timeout(), Some(at + wait), "after a refusal at {at}");
        assert!(resent(&mut s, at + wait - 1).is_empty(), "not before");
        at += wait;
        let again = resent(&mut s, at);
        assert_eq!(again.len(), 2, "both held publishes go again at {at}");
        at += 5;
        for p in &again {
            refuse(&mut s, at, p.0, u32::from(LIMIT_EXCEEDED));
        }
        drain(&mut s);
    }

    // One accepted: the rate lets publishes through again, so the next refusal waits the
    // base window only.
    let again = resent(&mut s, at + 4000);
    at += 4005;
    reply_seq(&mut s, at, again[0].0, 1);
    refuse(&mut s, at, again[1].0, u32::from(LIMIT_EXCEEDED));
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(at + 1000));
}
