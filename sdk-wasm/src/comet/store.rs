//! What the CometServer API keeps between page loads: the device id (`getUUID`) and each
//! stream's position, `{"seq","epoch"}` under `cometa:pos:<user id or anon>:<stream>`. (The
//! unanswered `web_pipe_send` calls are `js/comet.js`'s `outbox`.)
//!
//! Positions are written to `sessionStorage` *and* `localStorage` and read from the first
//! that has one. `sessionStorage` is per tab and survives a reload, so a reloaded tab resumes
//! exactly after the last message *it* handled even when another tab of the same browser
//! (same device id) has moved further; a new tab has no session copy and starts where the
//! device was. Where storage is missing or throws (Node, private modes), ids live in memory
//! and positions last as long as the page.

use std::cell::RefCell;

use cometa_client::comet::Position;

use super::random_id;
use crate::js::storage;

const DEVICE_KEY: &str = "cometa:uuid";

thread_local! {
    static DEVICE: RefCell<Option<String>> = const { RefCell::new(None) };
    static TAB: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn key(owner: &str, stream: &str) -> String {
    ["cometa:pos:", owner, ":", stream].concat()
}

/// The persistent device id: 24 characters, made once per browser profile.
pub fn device_id() -> String {
    DEVICE.with(|d| {
        let mut d = d.borrow_mut();
        if let Some(id) = d.as_ref() {
            return id.clone();
        }
        let local = storage("localStorage");
        let stored = local
            .as_ref()
            .and_then(|s| s.get_item(DEVICE_KEY).ok().flatten())
            .filter(|id| id.len() >= 8);
        let id = stored.unwrap_or_else(|| {
            let id = random_id(24);
            if let Some(s) = &local {
                let _ = s.set_item(DEVICE_KEY, &id);
            }
            id
        });
        *d = Some(id.clone());
        id
    })
}

/// This page's id, new on every load (CppComet's `getTabUUID`).
pub fn tab_id() -> String {
    TAB.with(|t| t.borrow_mut().get_or_insert_with(|| random_id(16)).clone())
}

pub fn load(owner: &str, stream: &str) -> Option<Position> {
    let k = key(owner, stream);
    ["sessionStorage", "localStorage"].iter().find_map(|name| {
        let text = storage(name)?.get_item(&k).ok().flatten()?;
        Position::parse(&text)
    })
}

pub fn save(owner: &str, stream: &str, position: &Position) {
    let (k, v) = (key(owner, stream), position.to_json());
    for name in ["sessionStorage", "localStorage"] {
        if let Some(s) = storage(name) {
            // Quota or disabled storage: the position then lives only in the session.
            let _ = s.set_item(&k, &v);
        }
    }
}
