//! One HTTP call shaped like `wx.request`, performed by `js/host.js` (`fetch` plus the
//! encoding of `data`): building requests property by property across the wasm boundary cost
//! several KB of module for no gain in behaviour. Every status is a success carrying
//! `{data, statusCode, header}`; a failed exchange is a `RequestError(ERR_REQUEST_FAILED)`.

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::js;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = wxRequest)]
    fn wx_request(options: &JsValue, url: &str, method: &str, extra: &Object) -> Promise;

    /// `configure`'s `extendedAuth` and `credentials`, kept by the host next to the fetch
    /// that uses them; throws `RequestError(ERR_INVALID_PARAMS)` for a bad `extendedAuth`.
    #[wasm_bindgen(js_name = setHttp, catch)]
    pub fn set_http(options: &JsValue) -> Result<(), JsValue>;

    /// The request options of one login: its credentials as headers or body (see host.js).
    pub fn proof(
        options: &JsValue,
        get_token: Option<js_sys::Function>,
        get_code: Option<js_sys::Function>,
        visitor: bool,
        with_user_data: bool,
    ) -> Promise;

    /// `POST` the login URL's sibling `refresh` with `X-WX-Skey`: resolves with the new
    /// session, or `null` when the relay refused the key; rejects when nothing can be
    /// concluded (network, 5xx).
    pub fn refresh(login_url: &str, skey: &str) -> Promise;

    /// Adds (`on`) or removes a running tunnel's timer callback (see `tunnel::end_all`).
    pub fn track(timer: &js_sys::Function, on: bool);

    /// Calls every tracked callback with `why`.
    #[wasm_bindgen(js_name = endAll)]
    pub fn end_all(why: &str);

    /// Arms the renewal timer to call `handler` before `session` expires (see `renew`), or
    /// disarms it when the session has no `expires_at`; `keep`: an armed timer stays.
    pub fn arm(handler: &js_sys::Function, session: &JsValue, keep: bool);

    /// `start()` unless a renewal is in flight (then that one), or, with none in flight and
    /// `skip`, a resolved Promise.
    pub fn once(start: &mut dyn FnMut() -> Promise, skip: bool) -> Promise;

    /// Records the page's own login in flight and gives it back.
    pub fn flying(login: Promise) -> Promise;

    /// Settles when the page's last login has (never rejects).
    pub fn landed() -> Promise;
}

/// The `wx.request` success payload, `{data, statusCode, header}`.
pub struct Reply {
    pub js: JsValue,
    pub status: u16,
    pub data: JsValue,
}

/// Performs a call. `options` are the caller's (`data`, `header`, `dataType`, `responseType`,
/// `timeout`); `method` defaults to `options.method`, then `GET`; `extra` headers win over the
/// caller's, like the `X-WX-Skey` that Wafer merges last.
pub async fn send(
    options: &JsValue,
    url: &str,
    method: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<Reply, JsValue> {
    let method = method
        .map(str::to_owned)
        .or_else(|| js::get_string(options, "method"))
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let headers = Object::new();
    for (name, value) in extra {
        js::set(&headers, name, &JsValue::from_str(value));
    }
    let js = JsFuture::from(wx_request(options, url, &method, &headers)).await?;
    Ok(Reply {
        status: js::get(&js, "statusCode").as_f64().unwrap_or(0.0) as u16,
        data: js::get(&js, "data"),
        js,
    })
}
