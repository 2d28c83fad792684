//! `cometa-sdk`: the thin `#[wasm_bindgen]` host over `cometa-client`, giving browsers and
//! Node ≥ 20 the API of Tencent Wafer's `wafer2-client-sdk` 2.1.0 (feature `wafer`) and the
//! CometServer API of CppComet's `CometServerApi.js` (feature `comet`). It owns only I/O:
//! fetch, WebSocket, timers, storage, JS callbacks and JS errors; the protocol logic lives in
//! the sans-IO core. Each feature is built into its own module (see `Cargo.toml`).
//!
//! Shared: [`js`], [`link`] (the one driver of both hosts, `js/link.js`: the socket, the
//! timer, the wake-up listeners, the page's handlers). Feature `comet`: [`comet`] (the
//! `CometApi` class and its host loop). Feature `wafer`, the rest:
//!
//! - [`js`]: the few global JS functions imported directly (`setTimeout`, …) and helpers.
//! - [`session`]: the session's storage, `localStorage` falling back to memory.
//! - [`http`]: the host functions of `js/host.js`: `wx.request`-shaped HTTP calls over
//!   `fetch`, Wafer's `success`/`fail`/`complete` callbacks or a Promise, timers, and the
//!   `RequestError`s (an `Error` subclass defined there) the module throws or rejects with.
//! - [`auth`]: `login`, `loginWithCode`, `request` and the session's functions: the host of the sans-IO
//!   session core (`cometa_client::auth`: re-login, renewal, retries), without Rust futures.
//! - [`tunnel`]: the `Tunnel` class: runs the core's loop (actions, events, one timer).

#[cfg(feature = "wafer")]
pub mod auth;
#[cfg(feature = "comet")]
pub mod comet;
#[cfg(feature = "wafer")]
pub mod http;
pub mod js;
pub mod link;
#[cfg(feature = "wafer")]
pub mod session;
#[cfg(feature = "wafer")]
pub mod tunnel;

#[cfg(feature = "wafer")]
pub use tunnel::Tunnel;

// Grows the wasm memory as needed, like std's default allocator (see Cargo.toml for why talc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
