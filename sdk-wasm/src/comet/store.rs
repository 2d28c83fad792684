//! What the CometServer API keeps between page loads: each stream's position,
//! `{"seq","epoch"}` under `cometa:pos:<user id or anon>:<stream>`. (The device id and the
//! unanswered `web_pipe_send` calls are `js/comet.js`'s `deviceId` and `outbox`; storage
//! itself, JS's to reach, is its `stored`.)
//!
//! Positions are written to `sessionStorage` *and* `localStorage` and read from the first
//! that has one. `sessionStorage` is per tab and survives a reload, so a reloaded tab resumes
//! exactly after the last message *it* handled even when another tab of the same browser
//! (same device id) has moved further; a new tab has no session copy and starts where the
//! device was. Where storage is missing or throws (Node, private modes), positions last as
//! long as the page.

use cometa_client::comet::Position;

use super::stored;

fn key(owner: &str, stream: &str) -> String {
    ["cometa:pos:", owner, ":", stream].concat()
}

pub fn load(owner: &str, stream: &str) -> Option<Position> {
    let k = key(owner, stream);
    ["sessionStorage", "localStorage"]
        .iter()
        .find_map(|name| Position::parse(&stored(name, &k, None)?))
}

pub fn save(owner: &str, stream: &str, position: &Position) {
    let (k, v) = (key(owner, stream), position.to_json());
    for name in ["sessionStorage", "localStorage"] {
        // Quota or disabled storage: the position then lives only in the session.
        stored(name, &k, Some(&v));
    }
}
