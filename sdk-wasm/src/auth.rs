//! `login`, `loginWithCode` and `request`, following Wafer 2.1.0's `login.js` and
//! `request.js`. The one browser difference: there is no `wx.login`, so the login code comes
//! from `opts.code` or from the provider set with `setCodeProvider`.
//!
//! Messages are built with `concat` rather than `format!`: the formatting machinery costs
//! module size (see `scripts/build-sdk.sh`).

use js_sys::{Function, JSON, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{
    ERR_INVALID_PARAMS, ERR_LOGIN_FAILED, ERR_LOGIN_SESSION_NOT_RECEIVED, ERR_SESSION_INVALID,
    ERR_WX_LOGIN_FAILED, request_error,
};
use crate::http::{self, Reply};
use crate::session::{self, Session};
use crate::settle::{Task, settle};
use crate::{config, js};

const HEADER_CODE: &str = "X-WX-Code";
const HEADER_ENCRYPTED_DATA: &str = "X-WX-Encrypted-Data";
const HEADER_IV: &str = "X-WX-IV";
const HEADER_SKEY: &str = "X-WX-Skey";

fn not_an_object(what: &str, value: &JsValue) -> JsValue {
    let kind = value.js_typeof().as_string().unwrap_or_default();
    request_error(
        ERR_INVALID_PARAMS,
        &[what, " options must be an object, got ", &kind].concat(),
    )
}

/// The login code: `opts.code`, else the provider's (awaited) answer.
async fn obtain_code(opts: &JsValue) -> Result<String, JsValue> {
    if let Some(code) = js::get_string(opts, "code").filter(|c| !c.is_empty()) {
        return Ok(code);
    }
    let fail = |why: &str, e: &JsValue| {
        request_error(ERR_WX_LOGIN_FAILED, &[why, &js::describe(e)].concat())
    };
    let provider: Function = config::code_provider().ok_or_else(|| {
        request_error(
            ERR_WX_LOGIN_FAILED,
            "no login code: pass opts.code or set a provider with setCodeProvider(fn)",
        )
    })?;
    let answer = provider
        .call0(&JsValue::UNDEFINED)
        .map_err(|e| fail("the code provider threw: ", &e))?;
    let code = JsFuture::from(Promise::resolve(&answer))
        .await
        .map_err(|e| fail("the code provider failed: ", &e))?;
    code.as_string().filter(|c| !c.is_empty()).ok_or_else(|| {
        request_error(
            ERR_WX_LOGIN_FAILED,
            "the code provider must return a non-empty string",
        )
    })
}

/// Boxed so the login state machine exists once in the module, not inlined into each caller.
fn do_login(opts: JsValue, with_user_data: bool) -> Task<JsValue> {
    Box::pin(login_inner(opts, with_user_data))
}

/// Wafer's login exchange: send the code (and, for `login`, the optional encrypted user
/// data), check the `{code: 0, data: {skey, userinfo}}` envelope, store the session, answer
/// the `userinfo`.
async fn login_inner(opts: JsValue, with_user_data: bool) -> Result<JsValue, JsValue> {
    if !(opts.is_undefined() || opts.is_null() || opts.is_object()) {
        return Err(not_an_object("login", &opts));
    }
    let url = js::get_string(&opts, "loginUrl")
        .filter(|u| !u.is_empty())
        .or_else(config::login_url)
        .ok_or_else(|| {
            request_error(
                ERR_INVALID_PARAMS,
                "no login URL: set one with setLoginUrl(url) or pass opts.loginUrl",
            )
        })?;
    let code = obtain_code(&opts).await?;
    let mut extra = vec![(HEADER_CODE, code)];
    if with_user_data {
        for (key, header) in [("encryptedData", HEADER_ENCRYPTED_DATA), ("iv", HEADER_IV)] {
            if let Some(v) = js::get_string(&opts, key) {
                extra.push((header, v));
            }
        }
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let method = js::get_string(&opts, "method");
    // Only the login fields travel: Wafer's login sends no `data` or caller headers.
    let reply = http::send(
        &JsValue::UNDEFINED,
        &url,
        Some(method.as_deref().unwrap_or("GET")),
        &extra,
    )
    .await?;

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
        return Err(request_error(&kind, &message));
    }
    if js::get_string(&res, "skey").is_none_or(|s| s.is_empty()) {
        return Err(request_error(
            ERR_LOGIN_SESSION_NOT_RECEIVED,
            "login answered without a session (data.skey)",
        ));
    }
    let userinfo = js::get(&res, "userinfo");
    if userinfo.is_undefined() || userinfo.is_null() {
        return Err(request_error(
            ERR_LOGIN_FAILED,
            "login answered without data.userinfo",
        ));
    }
    Session::set(res);
    Ok(userinfo)
}

// `login({loginUrl?, method?, code?, encryptedData?, iv?, success?, fail?})`.
#[wasm_bindgen]
pub fn login(options: JsValue) -> JsValue {
    settle(&options, do_login(options.clone(), true))
}

// `loginWithCode({loginUrl?, method?, code?, success?, fail?})`.
#[wasm_bindgen(js_name = loginWithCode)]
pub fn login_with_code(options: JsValue) -> JsValue {
    settle(&options, do_login(options.clone(), false))
}

/// The session is invalid when the body says `code: -1` or the status is 401.
fn session_rejected(reply: &Reply) -> bool {
    reply.status == 401 || js::get(&reply.data, "code").as_f64() == Some(-1.0)
}

/// Wafer's `request` rule: log in first when `login` is set; send with `X-WX-Skey`; when
/// the session is rejected, clear it, log in once through the code provider and retry once;
/// a second rejection fails with `RequestError(data.error)`. Boxed like [`do_login`].
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
    if js::get(&options, "login").is_truthy() {
        do_login(JsValue::UNDEFINED, false).await?;
    }
    let mut retried = false;
    loop {
        let skey = session::skey();
        let extra: Vec<(&str, &str)> = skey.iter().map(|s| (HEADER_SKEY, s.as_str())).collect();
        let reply = http::send(&options, &url, None, &extra).await?;
        if !session_rejected(&reply) {
            return Ok(reply);
        }
        Session::clear();
        if retried {
            let kind =
                js::get_string(&reply.data, "error").unwrap_or_else(|| ERR_SESSION_INVALID.into());
            let message = js::get_string(&reply.data, "message")
                .unwrap_or_else(|| "the session has expired (login state invalid)".into());
            return Err(request_error(&kind, &message));
        }
        retried = true;
        do_login(JsValue::UNDEFINED, false).await?;
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
