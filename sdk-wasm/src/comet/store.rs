//! What the CometServer API keeps between page loads: each stream's position,
//! `{"seq","epoch"}` under `cometa:pos:<user id or anon>:<stream>` (the key and the storage
//! calls are `js/comet.js`'s `kept`, which also keeps the unanswered `web_pipe_send` calls).
//!
//! Positions are written to `sessionStorage` *and* `localStorage` and read from the first
//! that has one. `sessionStorage` is per tab and survives a reload, so a reloaded tab resumes
//! exactly after the last message *it* handled even when another tab of the same browser
//! (same device id) has moved further; a new tab has no session copy and starts where the
//! device was. Where storage is missing or throws (Node, private modes), positions last as
//! long as the page.

use cometa_client::comet::Position;

use wasm_bindgen::JsValue;

use super::kept;

pub fn load(js: &JsValue, stream: &str) -> Option<Position> {
    // The first storage with a position that parses (a plain loop: module size).
    for from in 0..2 {
        if let Some(p) = kept(js, from, stream, None).and_then(|t| Position::parse(&t)) {
            return Some(p);
        }
    }
    None
}

pub fn save(js: &JsValue, stream: &str, p: &Position) {
    // Quota or disabled storage: the position then lives only in the session.
    kept(js, 0, stream, Some(&p.to_json()));
}
