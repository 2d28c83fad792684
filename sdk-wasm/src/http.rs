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
