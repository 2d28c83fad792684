//! The Wafer session as a sans-IO state machine: the page's logins, `request` with its
//! re-login rule, and the session's renewal before it expires.
//!
//! The host (the wasm SDK) performs what [`Command`]s ask (an HTTP exchange, clearing the
//! stored session, settling a page call, ending the tunnels) and feeds back what happened
//! (`*_done`, [`Auth::handle_reply`], [`Auth::set_session`]), with the wall-clock time in ms:
//! session expiries are wall-clock seconds. One timer, [`Auth::poll_timeout`], calls
//! [`Auth::handle_timeout`]. `E` is the host's error value (a JS `RequestError`): the core only
//! routes it to the calls it concerns.
//!
//! - **Page logins** (`login`, `loginWithCode`) always run their own exchange; a request or a
//!   tunnel started without a session meanwhile waits for the last one to settle.
//! - **Requests** with `login` first log in (one automatic login shared by the requests that
//!   ask together), then send with the key. A rejected key starts one re-login for all the
//!   requests refused together (or uses a newer key at once) and retries once; a second
//!   rejection clears the session and fails.
//! - **Renewal**: at `expires_at` minus a margin (a tenth of the lifetime, at least 30 s, at
//!   most half of it) the key is refreshed; when the relay refuses it, or the expiry cannot
//!   move and a provider can give a new credential, the SDK logs in again. One renewal at a
//!   time, joined by every caller. A login refused for good ends the session and, when there
//!   was one, every tunnel ([`Command::EndTunnels`]); a network failure is transient.

use crate::queue::Queue;

/// What the core keeps of a stored session (`{skey, time, expires_at}`; times in seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub skey: String,
    pub expires_at: Option<f64>,
    pub time: Option<f64>,
}

/// Something the host must do. Drained with [`Auth::poll_command`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<E> {
    /// Log in: with the options of page call `call`, or (`None`) with the credentials the SDK
    /// has alone. Answer with [`Auth::login_done`] for `op`, after storing a new session.
    Login { op: u32, call: Option<u32> },
    /// `POST /refresh` with `skey`; answer with [`Auth::refresh_done`].
    Refresh { op: u32, skey: String },
    /// Send request `call` with `skey` as `X-WX-Skey`; answer with [`Auth::handle_reply`].
    Send { call: u32, skey: Option<String> },
    /// Remove the stored session (the core already forgot it).
    ClearSession,
    /// The session ended for good with this error: end every tunnel.
    EndTunnels(E),
    /// Settle page call `call`: `Ok` with its answer (the login's `userinfo`, the request's
    /// reply), or the error.
    Settle { call: u32, result: Result<(), E> },
}

/// How a login exchange ended; `terminal` errors cannot be cured by trying again with the same
/// means (the relay refused the credentials, there were none).
pub type LoginResult<E> = Result<(), (E, bool)>;

/// The answer to [`Command::Refresh`].
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshResult<E> {
    /// A new session, already handed over with [`Auth::set_session`].
    Fresh,
    /// The relay refused the key.
    Dead,
    /// Nothing can be concluded (network, 5xx).
    Failed(E),
}

/// The verdict on a login answer (see [`login_verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// Not `{code: 0}`; `terminal` when the relay refused the credentials.
    Refused { terminal: bool },
    /// `data.skey` missing or empty.
    NoSession,
    /// `data.userinfo` missing.
    NoUserinfo,
}

impl LoginFailure {
    pub fn terminal(self) -> bool {
        match self {
            Self::Refused { terminal } => terminal,
            Self::NoSession | Self::NoUserinfo => true,
        }
    }
}

/// Wafer's rule: the session is invalid when the status is 401 or the body says `code: -1`.
pub fn session_rejected(status: u16, code: Option<f64>) -> bool {
    status == 401 || code == Some(-1.0)
}

/// A login answer `{code: 0, data: {skey, userinfo}}` is a session; anything else why not.
pub fn login_verdict(
    status: u16,
    code: Option<f64>,
    has_skey: bool,
    has_userinfo: bool,
) -> Result<(), LoginFailure> {
    if code != Some(0.0) {
        return Err(LoginFailure::Refused {
            terminal: session_rejected(status, code),
        });
    }
    if !has_skey {
        return Err(LoginFailure::NoSession);
    }
    if !has_userinfo {
        return Err(LoginFailure::NoUserinfo);
    }
    Ok(())
}

/// A refresh answer: a new session, a refused key, or (`None`) nothing to conclude.
pub fn refresh_verdict(status: u16, code: Option<f64>, has_skey: bool) -> Option<bool> {
    if code == Some(0.0) && has_skey {
        Some(true)
    } else if session_rejected(status, code) {
        Some(false)
    } else {
        None
    }
}

/// When to renew `s` (wall-clock ms), or never without `expires_at`. The lifetime counts from
/// `time` (the relay's clock at issue) or from now for a session loaded from storage,
/// whichever is sooner, so a wrong local clock cannot make a fresh session look expired.
pub fn renew_at(now_ms: u64, s: &Session) -> Option<u64> {
    let end = s.expires_at?;
    let now = now_ms as f64 / 1000.0;
    let life = end - s.time.filter(|t| *t != 0.0).unwrap_or(now);
    let left = (end - now).min(life);
    let margin = (life / 10.0).max(30.0).min(life / 2.0);
    let delay = ((left - margin) * 1000.0).max(0.0);
    Some(now_ms.saturating_add(delay as u64))
}

// Plain tags (the key a call was sent with is kept in [`Call::sent`]): comparing steps is
// then one integer compare rather than a derived `PartialEq` over strings (module size).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Waits for the page's login in flight.
    Landing,
    /// Waits for the automatic login.
    LoggingIn,
    Sending,
    /// Waits for the renewal after a rejection.
    Renewing,
    /// A page login: its own exchange.
    PageLogin,
}

#[derive(Debug)]
struct Call {
    id: u32,
    step: Step,
    /// `request({login: true})`: log in before sending.
    login: bool,
    /// The key was refused once already.
    retried: bool,
    /// The key the call was last sent with, while [`Step::Sending`].
    sent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Renewal {
    Refreshing { op: u32, before: Option<f64> },
    LoggingIn { op: u32, had_session: bool },
}

/// The session's state machine; see the module documentation.
#[derive(Debug)]
pub struct Auth<E> {
    session: Option<Session>,
    renew_at: Option<u64>,
    next_id: u32,
    calls: Vec<Call>,
    /// The page's last login, while in flight.
    landing: Option<u32>,
    /// The automatic login of `request({login: true})`, while in flight.
    auto_login: Option<u32>,
    renewal: Option<Renewal>,
    commands: Queue<Command<E>>,
}

impl<E> Default for Auth<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Auth<E> {
    /// No session, nothing in flight. `const`: a host's static holding it is initialised in
    /// place rather than on first use (the wasm SDK's module carries no initialiser then).
    pub const fn new() -> Self {
        Self {
            session: None,
            renew_at: None,
            next_id: 0,
            calls: Vec::new(),
            landing: None,
            auto_login: None,
            renewal: None,
            commands: Queue::new(),
        }
    }
}

impl<E: Clone> Auth<E> {
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The stored session changed (a login, a refresh, the page's `Session.set/clear`), or
    /// (`keep`) the host read it from storage before a request: then a renewal timer already
    /// armed stays, otherwise it is armed for the new session.
    pub fn set_session(&mut self, now_ms: u64, session: Option<Session>, keep: bool) {
        if !(keep && self.renew_at.is_some()) {
            self.renew_at = session.as_ref().and_then(|s| renew_at(now_ms, s));
        }
        self.session = session;
    }

    /// The page's `login`/`loginWithCode`: returns the call's id.
    pub fn page_login(&mut self, _now_ms: u64) -> u32 {
        let id = self.call(Step::PageLogin, false);
        self.landing = Some(id);
        self.commands.push_back(Command::Login {
            op: id,
            call: Some(id),
        });
        id
    }

    /// A request (`login`: log in first); returns the call's id. Tunnels fetch their connect
    /// URL through here too.
    pub fn request(&mut self, now_ms: u64, login: bool) -> u32 {
        let id = self.call(Step::Landing, login);
        if self.session.is_none() && self.landing.is_some() {
            return id;
        }
        self.proceed(now_ms, id, login);
        id
    }

    /// The answer to [`Command::Send`]: `rejected` carries the error to fail with when the
    /// relay refused the key (see [`session_rejected`]) and no retry is left.
    pub fn handle_reply(&mut self, now_ms: u64, call: u32, rejected: Option<E>) {
        let Some(c) = self.calls.iter_mut().find(|c| c.id == call) else {
            return;
        };
        if c.step != Step::Sending {
            return;
        }
        let Some(error) = rejected else {
            return self.settle(call, Ok(()));
        };
        if c.retried {
            self.forget();
            return self.settle(call, Err(error));
        }
        let sent = c.sent.take();
        c.retried = true;
        c.step = Step::Renewing;
        // Someone logged in since: the newer key is used as it is.
        let newer = self
            .session
            .as_ref()
            .is_some_and(|s| Some(&s.skey) != sent.as_ref());
        if self.renewal.is_none() && newer {
            self.send(call);
        } else {
            self.renew(now_ms, false);
        }
    }

    /// The exchange of request `call` failed (network, timeout).
    pub fn send_failed(&mut self, _now_ms: u64, call: u32, error: E) {
        self.settle(call, Err(error));
    }

    /// The answer to [`Command::Login`] `op`; on success the host stored the session first.
    pub fn login_done(&mut self, now_ms: u64, op: u32, result: LoginResult<E>) {
        if self.landing == Some(op) {
            self.landing = None;
            while let Some((id, login)) = self.next_at(Step::Landing) {
                self.proceed(now_ms, id, login);
            }
        }
        if self
            .calls
            .iter()
            .any(|c| c.id == op && c.step == Step::PageLogin)
        {
            self.settle(op, result.map_err(|(e, _)| e));
        } else if self.auto_login == Some(op) {
            self.auto_login = None;
            while let Some((id, _)) = self.next_at(Step::LoggingIn) {
                match &result {
                    Ok(()) => self.ready(now_ms, id),
                    Err((e, _)) => self.settle(id, Err(e.clone())),
                }
            }
        } else if let Some(Renewal::LoggingIn { op: o, had_session }) = self.renewal
            && o == op
        {
            let result = match result {
                Err((e, true)) => {
                    self.forget();
                    if had_session {
                        self.commands.push_back(Command::EndTunnels(e.clone()));
                    }
                    Err(e)
                }
                other => other.map_err(|(e, _)| e),
            };
            self.renewed(result);
        }
    }

    /// The answer to [`Command::Refresh`]. `can_relogin`: a provider (token or code) can give
    /// a new credential, so a session whose expiry could not move is replaced by a login.
    pub fn refresh_done(
        &mut self,
        _now_ms: u64,
        op: u32,
        result: RefreshResult<E>,
        can_relogin: bool,
    ) {
        let Some(Renewal::Refreshing { op: o, before }) = self.renewal else {
            return;
        };
        if o != op {
            return;
        }
        match result {
            RefreshResult::Fresh => {
                let after = self.session.as_ref().and_then(|s| s.expires_at);
                if after > before || !can_relogin {
                    return self.renewed(Ok(()));
                }
            }
            RefreshResult::Dead => self.forget(),
            RefreshResult::Failed(e) => return self.renewed(Err(e)),
        }
        self.relogin(true);
    }

    /// When [`Auth::handle_timeout`] is due (wall-clock ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.renew_at
    }

    /// The renewal timer fired: renew (or join the renewal in flight).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.renew_at.is_some_and(|t| t <= now_ms) {
            self.renew_at = None;
            self.renew(now_ms, true);
        }
    }

    pub fn poll_command(&mut self) -> Option<Command<E>> {
        self.commands.pop_front()
    }

    fn call(&mut self, step: Step, login: bool) -> u32 {
        let id = self.op();
        self.calls.push(Call {
            id,
            step,
            login,
            retried: false,
            sent: None,
        });
        id
    }

    /// The first call at `step` and its `login` flag. Each caller moves the call it gets to
    /// another step (or settles it), so looping on this visits the calls at `step` in order,
    /// without collecting their ids first.
    fn next_at(&self, step: Step) -> Option<(u32, bool)> {
        self.calls
            .iter()
            .find(|c| c.step == step)
            .map(|c| (c.id, c.login))
    }

    fn set_step(&mut self, id: u32, step: Step) {
        if let Some(c) = self.calls.iter_mut().find(|c| c.id == id) {
            c.step = step;
        }
    }

    fn proceed(&mut self, now_ms: u64, id: u32, login: bool) {
        if !login {
            return self.ready(now_ms, id);
        }
        self.set_step(id, Step::LoggingIn);
        if self.auto_login.is_none() {
            let op = self.op();
            self.auto_login = Some(op);
            self.commands.push_back(Command::Login { op, call: None });
        }
    }

    /// Arms the renewal for a session stored by an earlier page load, then sends.
    fn ready(&mut self, now_ms: u64, id: u32) {
        if self.renew_at.is_none() {
            self.renew_at = self.session.as_ref().and_then(|s| renew_at(now_ms, s));
        }
        self.send(id);
    }

    fn send(&mut self, id: u32) {
        let skey = self.session.as_ref().map(|s| s.skey.clone());
        let Some(c) = self.calls.iter_mut().find(|c| c.id == id) else {
            return;
        };
        c.step = Step::Sending;
        c.sent = skey.clone();
        self.commands.push_back(Command::Send { call: id, skey });
    }

    fn settle(&mut self, call: u32, result: Result<(), E>) {
        // Ids are unique: one removal, not `retain`'s general loop.
        if let Some(at) = self.calls.iter().position(|c| c.id == call) {
            self.calls.remove(at);
        }
        self.commands.push_back(Command::Settle { call, result });
    }

    fn forget(&mut self) {
        self.session = None;
        self.renew_at = None;
        self.commands.push_back(Command::ClearSession);
    }

    fn op(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Starts a renewal unless one is in flight (the caller then waits for that one):
    /// `refresh` tries `/refresh` first (the key is believed good), otherwise only a new
    /// login helps.
    fn renew(&mut self, _now_ms: u64, refresh: bool) {
        if self.renewal.is_some() {
            return;
        }
        if let (Some(s), true) = (&self.session, refresh) {
            let (skey, before) = (s.skey.clone(), s.expires_at);
            let op = self.op();
            self.renewal = Some(Renewal::Refreshing { op, before });
            self.commands.push_back(Command::Refresh { op, skey });
            return;
        }
        let had_session = self.session.is_some();
        if had_session {
            self.forget();
        }
        self.relogin(had_session);
    }

    fn relogin(&mut self, had_session: bool) {
        let op = self.op();
        self.renewal = Some(Renewal::LoggingIn { op, had_session });
        self.commands.push_back(Command::Login { op, call: None });
    }

    /// The renewal ended: the requests waiting for it retry, or fail with its error.
    fn renewed(&mut self, result: Result<(), E>) {
        self.renewal = None;
        while let Some((id, _)) = self.next_at(Step::Renewing) {
            match &result {
                Ok(()) => self.send(id),
                Err(e) => self.settle(id, Err(e.clone())),
            }
        }
    }
}

#[cfg(test)]
mod tests;
