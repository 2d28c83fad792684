//! Keeping the session alive: a renewal before `expires_at`, one at a time, and the end of the
//! session when a renewal is refused.
//!
//! - **When**: a timer armed whenever a session is stored (and, for a session stored by an
//!   earlier page load, at the first request), at `expires_at` minus a margin: a tenth of the
//!   lifetime, at least 30 s, at most half of it.
//! - **How**: `POST <login URL's directory>/refresh` with `X-WX-Skey` swaps the key and moves
//!   the expiry; the open tunnels are untouched. When the relay refuses (401), or cannot move
//!   the expiry (a JWT's `exp` is a hard end), the SDK logs in again without the page:
//!   `getToken`, else the code provider, else as the same visitor, else with the
//!   `extendedAuth` headers.
//! - **One at a time**: the running renewal is a Promise every caller awaits, so two requests
//!   refused together cause one login, and a refresh never races a login.
//! - **The end**: when nobody can log in again (no provider, an empty answer, the relay
//!   refuses the credentials) the session is cleared and every running tunnel ends with
//!   [`SESSION_ENDED`] — a terminal close, never a retry loop. A network failure or a provider
//!   that throws is transient: the session stays and the next use or timer tries again.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise, spawn_local};

use crate::auth;
use crate::session::{self, Session};
use crate::{config, http, js};

/// The tunnel `error` code when the session ended: the relay's own close code for a revoked
/// session, terminal class like every 45xx.
pub const SESSION_ENDED: u32 = 4502;

thread_local! {
    static ON_TIMER: Closure<dyn FnMut()> = Closure::new(|| {
        // Errors are transient here (a refusal already ended the session): the next use of
        // the session retries.
        spawn_local(async {
            let _ = renew(true, false).await;
        });
    });
}

/// Arms the timer for the stored session, or disarms it (called whenever one is stored or
/// cleared, with `keep` false). The timer, its due time and the renewal in flight live in the
/// host (js/host.js `arm`, `once`). Before each request it is called with `keep`, to arm the
/// timer for a session stored by an earlier page load without moving one already armed; when
/// a timer ran late (a sleeping laptop) and the session expired meanwhile, the request's 401
/// logs in again.
pub fn schedule(keep: bool) {
    ON_TIMER.with(|f| http::arm(f.as_ref().unchecked_ref(), &Session::get(), keep));
}

/// The relay refused the key a request sent (`sent`): log in again, unless someone already
/// did — a renewal in flight is joined, a newer key is used as it is.
pub async fn after_rejection(sent: Option<String>) -> Result<(), JsValue> {
    renew(false, session::skey().is_some_and(|k| Some(k) != sent)).await
}

/// Runs a renewal, or joins the one in flight; with none in flight, `skip` does nothing.
/// `refresh`: try `/weapp/refresh` first (the key is believed good); otherwise the key is
/// dead and only a new login helps.
pub async fn renew(refresh: bool, skip: bool) -> Result<(), JsValue> {
    let mut start =
        || future_to_promise(async move { run(refresh).await.map(|()| JsValue::UNDEFINED) });
    JsFuture::from(http::once(&mut start, skip)).await.map(drop)
}

async fn run(refresh: bool) -> Result<(), JsValue> {
    let had_session = session::skey();
    match (refresh, &had_session) {
        (true, Some(skey)) => {
            let url = config::login_url().unwrap_or_default();
            let before = expires_at();
            let fresh = JsFuture::from(http::refresh(&url, skey)).await?;
            if fresh.is_null() {
                // The key is dead: only a new login helps.
                Session::clear();
            } else {
                Session::set(fresh);
                // Unless the expiry could not move (a JWT's `exp` is a hard end) and a
                // provider can give a new credential, that was the renewal.
                if expires_at() > before
                    || config::token_provider()
                        .or_else(config::code_provider)
                        .is_none()
                {
                    return Ok(());
                }
            }
        }
        _ => Session::clear(),
    }
    match auth::do_login(JsValue::UNDEFINED, false).await {
        Err(e) if js::get(&e, "terminal").is_truthy() => {
            Session::clear();
            if had_session.is_some() {
                crate::tunnel::end_all(&["the session ended: ", &js::describe(&e)].concat());
            }
            Err(e)
        }
        other => other.map(drop),
    }
}

fn expires_at() -> Option<f64> {
    js::get(&Session::get(), "expires_at").as_f64()
}
