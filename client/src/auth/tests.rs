//! The session's state machine on virtual time: errors are strings, the host is these tests.

use super::*;

type Cmd = Command<&'static str>;

fn drain(a: &mut Auth<&'static str>) -> Vec<Cmd> {
    std::iter::from_fn(|| a.poll_command()).collect()
}

fn session(skey: &str, time: f64, expires_at: f64) -> Option<Session> {
    Some(Session {
        skey: skey.into(),
        expires_at: Some(expires_at),
        time: Some(time),
    })
}

fn send(call: u32, skey: &str) -> Cmd {
    Command::Send {
        call,
        skey: Some(skey.into()),
    }
}

fn ok(call: u32) -> Cmd {
    Command::Settle {
        call,
        result: Ok(()),
    }
}

/// A session issued at t = 1000 s for an hour: renewed 360 s (a tenth) before its end.
#[test]
fn renews_a_tenth_of_the_lifetime_before_expiry_and_only_then() {
    let mut a = Auth::default();
    a.set_session(1_000_000, session("k1", 1000.0, 4600.0), false);
    assert_eq!(a.poll_timeout(), Some(4_240_000));
    a.handle_timeout(4_239_999);
    assert_eq!(drain(&mut a), []);
    a.handle_timeout(4_240_000);
    assert_eq!(
        drain(&mut a),
        [Command::Refresh {
            op: 1,
            skey: "k1".into()
        }]
    );
    assert_eq!(a.poll_timeout(), None, "one renewal per timer");
    // The relay moved the expiry: that was the renewal, and the timer is armed for the new one.
    a.set_session(4_240_000, session("k2", 4240.0, 7840.0), false);
    a.refresh_done(4_240_100, 1, RefreshResult::Fresh, true);
    assert_eq!(drain(&mut a), []);
    assert_eq!(a.poll_timeout(), Some(7_480_000));
}

#[test]
fn renewal_margin_is_at_least_30_s_and_at_most_half_the_lifetime() {
    let s = |life: f64| Session {
        skey: "k".into(),
        expires_at: Some(1000.0 + life),
        time: Some(1000.0),
    };
    // 100 s: 30 s before the end; 40 s: half of it.
    assert_eq!(renew_at(1_000_000, &s(100.0)), Some(1_070_000));
    assert_eq!(renew_at(1_000_000, &s(40.0)), Some(1_020_000));
    // A session loaded long after it was issued counts from now; an expired one is due now.
    let late = Session {
        skey: "k".into(),
        expires_at: Some(7200.0),
        time: None,
    };
    assert_eq!(renew_at(3_600_000, &late), Some(3_600_000 + 3_240_000));
    assert_eq!(renew_at(8_000_000, &late), Some(8_000_000));
    let forever = Session {
        skey: "k".into(),
        expires_at: None,
        time: None,
    };
    assert_eq!(renew_at(0, &forever), None);
}

#[test]
fn a_request_arms_the_timer_for_a_stored_session_without_moving_an_armed_one() {
    let mut a: Auth<&str> = Auth::default();
    a.set_session(0, session("k", 0.0, 1000.0), true);
    assert_eq!(a.poll_timeout(), Some(900_000));
    a.set_session(500_000, session("k", 0.0, 1000.0), true);
    assert_eq!(a.poll_timeout(), Some(900_000), "keep: armed stays");
    let id = a.request(500_000, false);
    assert_eq!(drain(&mut a), [send(id, "k")]);
}

#[test]
fn one_login_in_flight_is_shared_by_concurrent_requests() {
    let mut a = Auth::default();
    let r1 = a.request(0, true);
    let r2 = a.request(1, true);
    assert_eq!(drain(&mut a), [Command::Login { op: 2, call: None }]);
    a.set_session(5, session("k", 0.0, 3600.0), false);
    a.login_done(5, 2, Ok(()));
    assert_eq!(drain(&mut a), [send(r1, "k"), send(r2, "k")]);
    a.handle_reply(6, r2, None);
    a.handle_reply(7, r1, None);
    assert_eq!(drain(&mut a), [ok(r2), ok(r1)]);
}

#[test]
fn a_failed_shared_login_fails_every_request_waiting_for_it() {
    let mut a = Auth::default();
    let r1 = a.request(0, true);
    let r2 = a.request(0, true);
    drain(&mut a);
    a.login_done(3, 2, Err(("no credentials", true)));
    let fail = |call| Command::Settle {
        call,
        result: Err("no credentials"),
    };
    assert_eq!(drain(&mut a), [fail(r1), fail(r2)]);
}

#[test]
fn requests_refused_together_cause_one_login_then_retry_with_the_new_key() {
    let mut a = Auth::default();
    a.set_session(0, session("old", 0.0, 3600.0), false);
    let r1 = a.request(0, false);
    let r2 = a.request(0, false);
    assert_eq!(drain(&mut a), [send(r1, "old"), send(r2, "old")]);
    a.handle_reply(10, r1, Some("invalid"));
    a.handle_reply(11, r2, Some("invalid"));
    let cmds = drain(&mut a);
    assert_eq!(cmds[0], Command::ClearSession);
    assert_eq!(cmds[1..], [Command::Login { op: 3, call: None }]);
    assert_eq!(a.session(), None, "a dead key is not sent again");
    a.set_session(20, session("new", 0.02, 3600.0), false);
    a.login_done(20, 3, Ok(()));
    assert_eq!(drain(&mut a), [send(r1, "new"), send(r2, "new")]);
}

#[test]
fn a_session_rejected_again_after_the_relogin_fails_clearly_and_is_cleared() {
    let mut a = Auth::default();
    a.set_session(0, session("k1", 0.0, 3600.0), false);
    let r = a.request(0, false);
    drain(&mut a);
    a.handle_reply(1, r, Some("first"));
    drain(&mut a);
    a.set_session(2, session("k2", 0.0, 3600.0), false);
    a.login_done(2, 2, Ok(()));
    assert_eq!(drain(&mut a), [send(r, "k2")]);
    a.handle_reply(3, r, Some("ERR_SESSION_INVALID"));
    assert_eq!(
        drain(&mut a),
        [
            Command::ClearSession,
            Command::Settle {
                call: r,
                result: Err("ERR_SESSION_INVALID")
            }
        ]
    );
    assert_eq!((a.session(), a.poll_timeout()), (None, None));
}

#[test]
fn a_newer_key_stored_meanwhile_is_used_without_logging_in() {
    let mut a = Auth::default();
    a.set_session(0, session("k1", 0.0, 3600.0), false);
    let r = a.request(0, false);
    drain(&mut a);
    a.set_session(1, session("k2", 0.0, 3600.0), false);
    a.handle_reply(2, r, Some("invalid"));
    assert_eq!(drain(&mut a), [send(r, "k2")]);
}

#[test]
fn a_tunnel_fetch_waits_for_the_page_login_in_flight() {
    let mut a = Auth::default();
    let login = a.page_login(0);
    assert_eq!(
        drain(&mut a),
        [Command::Login {
            op: login,
            call: Some(login)
        }]
    );
    // The tunnel's connect-URL request, started while the login flies: no request without a
    // session, it waits.
    let fetch = a.request(1, false);
    assert_eq!(drain(&mut a), []);
    a.set_session(9, session("k", 0.0, 3600.0), false);
    a.login_done(9, login, Ok(()));
    assert_eq!(drain(&mut a), [send(fetch, "k"), ok(login)]);
    // Settled: later requests do not wait.
    let later = a.request(10, false);
    assert_eq!(drain(&mut a), [send(later, "k")]);
}

#[test]
fn a_request_waiting_for_a_failed_page_login_goes_on_without_a_session() {
    let mut a = Auth::default();
    let login = a.page_login(0);
    let r = a.request(1, false);
    drain(&mut a);
    a.login_done(2, login, Err(("refused", true)));
    assert_eq!(
        drain(&mut a),
        [
            Command::Send {
                call: r,
                skey: None
            },
            Command::Settle {
                call: login,
                result: Err("refused")
            }
        ]
    );
}

#[test]
fn a_refused_renewal_ends_the_session_and_the_tunnels() {
    let mut a = Auth::default();
    a.set_session(0, session("k", 0.0, 100.0), false);
    a.handle_timeout(70_000);
    assert!(matches!(
        drain(&mut a)[..],
        [Command::Refresh { op: 1, .. }]
    ));
    a.refresh_done(70_001, 1, RefreshResult::Dead, false);
    assert_eq!(
        drain(&mut a),
        [Command::ClearSession, Command::Login { op: 2, call: None }]
    );
    a.login_done(70_002, 2, Err(("no credentials", true)));
    assert_eq!(
        drain(&mut a),
        [Command::ClearSession, Command::EndTunnels("no credentials")]
    );
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_transient_renewal_failure_keeps_the_session() {
    let mut a = Auth::default();
    a.set_session(0, session("k", 1.0, 101.0), false);
    a.handle_timeout(70_000);
    drain(&mut a);
    a.refresh_done(70_001, 1, RefreshResult::Failed("HTTP 503"), true);
    assert_eq!(drain(&mut a), []);
    assert_eq!(a.session().map(|s| s.skey.as_str()), Some("k"));
    // The next request arms the timer again (30 s before the end) and goes out with the
    // same key.
    let r = a.request(70_002, false);
    assert_eq!(a.poll_timeout(), Some(71_000));
    assert_eq!(drain(&mut a), [send(r, "k")]);
}

#[test]
fn a_refresh_that_cannot_move_the_expiry_logs_in_when_a_provider_can() {
    let mut a = Auth::default();
    a.set_session(0, session("jwt1", 0.0, 100.0), false);
    a.handle_timeout(70_000);
    drain(&mut a);
    a.set_session(70_001, session("jwt1b", 0.0, 100.0), false);
    a.refresh_done(70_001, 1, RefreshResult::Fresh, true);
    assert_eq!(drain(&mut a), [Command::Login { op: 2, call: None }]);
    // A request refused meanwhile joins this renewal instead of starting another.
    let r = a.request(70_002, false);
    drain(&mut a);
    a.handle_reply(70_003, r, Some("invalid"));
    assert_eq!(drain(&mut a), []);
    a.set_session(70_004, session("jwt2", 70.0, 170.0), false);
    a.login_done(70_004, 2, Ok(()));
    assert_eq!(drain(&mut a), [send(r, "jwt2")]);
}

#[test]
fn a_refresh_without_a_provider_keeps_the_fixed_expiry() {
    let mut a = Auth::default();
    a.set_session(0, session("jwt", 0.0, 100.0), false);
    a.handle_timeout(70_000);
    drain(&mut a);
    a.refresh_done(70_001, 1, RefreshResult::Fresh, false);
    assert_eq!(drain(&mut a), []);
}

#[test]
fn verdicts() {
    assert!(session_rejected(401, None));
    assert!(session_rejected(200, Some(-1.0)));
    assert!(!session_rejected(500, Some(1.0)));
    assert_eq!(login_verdict(200, Some(0.0), true, true), Ok(()));
    assert!(login_verdict(401, Some(-1.0), false, false).is_err_and(LoginFailure::terminal));
    assert_eq!(
        login_verdict(503, None, false, false),
        Err(LoginFailure::Refused { terminal: false })
    );
    assert_eq!(
        login_verdict(200, Some(0.0), false, true),
        Err(LoginFailure::NoSession)
    );
    assert_eq!(
        login_verdict(200, Some(0.0), true, false),
        Err(LoginFailure::NoUserinfo)
    );
    assert_eq!(refresh_verdict(200, Some(0.0), true), Some(true));
    assert_eq!(refresh_verdict(401, None, false), Some(false));
    assert_eq!(refresh_verdict(502, None, false), None);
}
