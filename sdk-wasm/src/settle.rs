//! Wafer's calling convention, plus Promises: when the options carry `success`, `fail` or
//! `complete`, the outcome goes to them (and `undefined` is returned, as Wafer does, so an
//! unobserved rejected Promise cannot appear); otherwise a Promise is returned.

use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::js;

/// A boxed future. The async steps (HTTP call, login, request) are boxed so each state
/// machine exists once in the module instead of being inlined into every caller: the module's
/// size is a budget (see `scripts/build-sdk.sh`).
pub type Task<T> = Pin<Box<dyn Future<Output = Result<T, JsValue>>>>;

pub fn settle<F>(options: &JsValue, work: F) -> JsValue
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let success = js::get_function(options, "success");
    let fail = js::get_function(options, "fail");
    let complete = js::get_function(options, "complete");
    if success.is_none() && fail.is_none() && complete.is_none() {
        return future_to_promise(work).into();
    }
    spawn_local(async move {
        let (first, value) = match work.await {
            Ok(v) => (success, v),
            Err(e) => (fail, e),
        };
        // Wafer calls `complete` right after `success`/`fail` with the same argument.
        for f in [first, complete].iter().flatten() {
            js::call_user(f, &[&value]);
        }
    });
    JsValue::UNDEFINED
}
