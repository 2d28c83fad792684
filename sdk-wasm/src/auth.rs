//! `login`, `loginWithCode` and `request`, following Wafer 2.1.0's `login.js` and
//! `request.js`. The browser differences: there is no `wx.login`, so the login code comes
//! from `opts.code` or from the provider set with `setCodeProvider`; and a login may prove
//! who the user is in other ways (a JWT, a password, nothing for a visitor, the site's own
//! `extendedAuth` headers), all answered by `/weapp/login` in the same shape.
//!
//! Messages are built with `concat` rather than `format!`: the formatting machinery costs
//! module size (see `scripts/build-sdk.sh`).

use js_sys::JSON;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::error::{
    ERR_INVALID_PARAMS, ERR_LOGIN_FAILED, ERR_LOGIN_SESSION_NOT_RECEIVED, ERR_SESSION_INVALID,
    request_error,
};
use crate::http::{self, Reply};
use crate::session::{self, Session};
use crate::settle::{Task, settle};
use crate::{config, js, renew};

const HEADER_SKEY: &str = "X-WX-Skey";

fn not_an_object(what: &str, value: &JsValue) -> JsValue {
    let kind = value.js_typeof().as_string().unwrap_or_default();
    request_error(
        ERR_INVALID_PARAMS,
        &[what, " options must be an object, got ", &kind].concat(),
    )
}

/// Marks a login failure `terminal`: logging in again cannot help without new credentials
/// (the relay refused them, there were none to send, an answer without a session). A
/// renewal that fails so ends the session; a network failure, a provider that throws, a 429
/// or a 5xx are left unmarked: transient.
fn refused(error: JsValue) -> JsValue {
    js::set(error.unchecked_ref(), "terminal", &JsValue::TRUE);
    error
}

/// Boxed so the login state machine exists once in the module, not inlined into each caller.
pub fn do_login(opts: JsValue, with_user_data: bool) -> Task<JsValue> {
    Box::pin(login_inner(opts, with_user_data))
}

/// Wafer's login exchange: send the credentials (and, for `login`, the optional encrypted
/// user data), check the `{code: 0, data: {skey, userinfo}}` envelope, store the session,
/// answer the `userinfo`.
async fn login_inner(opts: JsValue, with_user_data: bool) -> Result<JsValue, JsValue> {
    if !(opts.is_undefined() || opts.is_null() || opts.is_object()) {
        return Err(refused(not_an_object("login", &opts)));
    }
    let url = js::get_string(&opts, "loginUrl")
        .filter(|u| !u.is_empty())
        .or_else(config::login_url)
        .ok_or_else(|| {
            refused(request_error(
                ERR_INVALID_PARAMS,
                "no login URL: set one with setLoginUrl(url) or pass opts.loginUrl",
            ))
        })?;
    // The credentials (explicit, or the way the SDK can log in alone: getToken, the code
    // provider, the same visitor again, the extendedAuth headers) as request options. Only
    // the login fields travel: Wafer's login sends no caller `data` or headers.
    let proof = http::proof(
        &opts,
        config::token_provider(),
        config::code_provider(),
        config::visitor(),
        with_user_data,
    );
    let proof = JsFuture::from(proof).await?;
    let reply = http::send(&proof, &url, None, &[]).await?;

    let body = &reply.data;
    let res = js::get(body, "data");
    if js::get(body, "code").as_f64() != Some(0.0) {
        let kind = js::get_string(body, "error").unwrap_or_else(|| ERR_LOGIN_FAILED.into());
        let message = js::get_string(body, "message").unwrap_or_else(|| {
            let text = JSON::stringify(body).ok().and_then(|s| s.as_string());
            let status = js::to_js_string(&JsValue::from(reply.status));
            [
                "login failed: unexpected response (HTTP ",
                &status,
                ") ",
                &text.unwrap_or_default(),
            ]
            .concat()
        });
        let error = request_error(&kind, &message);
        return Err(if session_rejected(&reply) {
            refused(error)
        } else {
            error
        });
    }
    if js::get_string(&res, "skey").is_none_or(|s| s.is_empty()) {
        return Err(refused(request_error(
            ERR_LOGIN_SESSION_NOT_RECEIVED,
            "login answered without a session (data.skey)",
        )));
    }
    let userinfo = js::get(&res, "userinfo");
    if userinfo.is_undefined() || userinfo.is_null() {
        return Err(refused(request_error(
            ERR_LOGIN_FAILED,
            "login answered without data.userinfo",
        )));
    }
    // A visitor's login is the one that sent credentials (for its cookie).
    config::set_visitor(js::get(&proof, "credentials").is_truthy());
    Session::set(res);
    Ok(userinfo)
}

// `login({loginUrl?, method?, code?, token?, username?, password?, rememberMe?, anonymous?,
// encryptedData?, iv?, success?, fail?})`.
#[wasm_bindgen]
pub fn login(options: JsValue) -> JsValue {
    page_login(options, true)
}

// `loginWithCode({loginUrl?, method?, code?, success?, fail?})` (and the other credentials,
// as `login`).
#[wasm_bindgen(js_name = loginWithCode)]
pub fn login_with_code(options: JsValue) -> JsValue {
    page_login(options, false)
}

/// A login the page asked for: recorded by the host, so a request or a tunnel started
/// meanwhile waits for its session instead of being refused without one.
fn page_login(options: JsValue, with_user_data: bool) -> JsValue {
    let work = future_to_promise(do_login(options.clone(), with_user_data));
    settle(&options, JsFuture::from(http::flying(work)))
}

/// The session is invalid when the body says `code: -1` or the status is 401.
pub fn session_rejected(reply: &Reply) -> bool {
    reply.status == 401 || js::get(&reply.data, "code").as_f64() == Some(-1.0)
}

/// Wafer's `request` rule: log in first when `login` is set; send with `X-WX-Skey`; when
/// the session is rejected, log in once more (see [`renew::after_rejection`]: one login for
/// all the requests refused together) and retry once; a second rejection fails with
/// `RequestError(data.error)`. Boxed like [`do_login`].
pub fn do_request(options: JsValue) -> Task<Reply> {
    Box::pin(request_inner(options))
}

async fn request_inner(options: JsValue) -> Result<Reply, JsValue> {
    if !options.is_object() {
        return Err(not_an_object("request", &options));
    }
    let url = js::get_string(&options, "url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| request_error(ERR_INVALID_PARAMS, "options.url must be a string"))?;
    if session::skey().is_none() {
        // Never rejects: a failed login leaves the request to fail on its own.
        let _ = JsFuture::from(http::landed()).await;
    }
    if js::get(&options, "login").is_truthy() {
        do_login(JsValue::UNDEFINED, false).await?;
    }
    renew::schedule(true);
    let mut retried = false;
    loop {
        let skey = session::skey();
        let extra: Vec<(&str, &str)> = skey.iter().map(|s| (HEADER_SKEY, s.as_str())).collect();
        let reply = http::send(&options, &url, None, &extra).await?;
        if !session_rejected(&reply) {
            return Ok(reply);
        }
        if retried {
            Session::clear();
            let kind =
                js::get_string(&reply.data, "error").unwrap_or_else(|| ERR_SESSION_INVALID.into());
            let message = js::get_string(&reply.data, "message")
                .unwrap_or_else(|| "the session has expired (login state invalid)".into());
            return Err(request_error(&kind, &message));
        }
        retried = true;
        renew::after_rejection(skey).await?;
    }
}

/// The success payload as the JS object `success` receives.
async fn with_js(work: Task<Reply>) -> Result<JsValue, JsValue> {
    work.await.map(|r| r.js)
}

// `request({url, method?, data?, header?, login?, dataType?, responseType?, timeout?,
// success?, fail?, complete?})`.
#[wasm_bindgen]
pub fn request(options: JsValue) -> JsValue {
    settle(&options, with_js(do_request(options.clone())))
}
