//! `cometa-sdk`: the thin `#[wasm_bindgen]` host over `cometa-client`, giving browsers and
//! Node ≥ 20 the API of Tencent Wafer's `wafer2-client-sdk` 2.1.0 (feature `wafer`) and the
//! CometServer API of CppComet's `CometServerApi.js` (feature `comet`). It owns only I/O:
//! fetch, WebSocket, timers, storage, JS callbacks and JS errors; the protocol logic lives in
//! the sans-IO core. Each feature is built into its own module (see `Cargo.toml`).
//!
//! Shared: [`js`], [`socket`], [`wake`] (reconnect at once when the page wakes up). Feature `comet`: [`comet`] (the `CometApi` class and its host
//! loop). Feature `wafer`, the rest:
//!
//! - [`error`]: the `ERR_*` types and the `RequestError` JS class (an `Error` subclass,
//!   defined in `js/host.js`).
//! - [`js`]: the few global JS functions imported directly (`setTimeout`, …) and helpers.
//! - [`settle`]: Wafer's `success`/`fail`/`complete` callbacks or a Promise when none given.
//! - [`config`]: process-wide settings: login URL, code and token providers, WebSocket
//!   constructor (`extendedAuth` and `credentials` are kept by `js/host.js`).
//! - [`session`]: `Session.get/set/clear` over `localStorage`, falling back to memory.
//! - [`http`]: one `wx.request`-shaped HTTP call, performed by `js/host.js` over `fetch`,
//!   and the other host functions of `js/host.js`.
//! - [`auth`]: `login`, `loginWithCode` and `request` with Wafer's re-login rule; every
//!   way to log in (code, JWT, password, visitor, delegated).
//! - [`renew`]: the session's renewal before `expires_at`, one at a time, and its end.
//! - [`tunnel`]: the `Tunnel` class: runs the core's loop (actions, events, one timer).
//! - [`socket`]: one WebSocket with its handlers, detached when dropped.

#[cfg(feature = "wafer")]
pub mod auth;
#[cfg(feature = "comet")]
pub mod comet;
#[cfg(feature = "wafer")]
pub mod config;
#[cfg(feature = "wafer")]
pub mod error;
#[cfg(feature = "wafer")]
pub mod http;
pub mod js;
#[cfg(feature = "wafer")]
pub mod renew;
#[cfg(feature = "wafer")]
pub mod session;
#[cfg(feature = "wafer")]
pub mod settle;
pub mod socket;
#[cfg(feature = "wafer")]
pub mod tunnel;
pub mod wake;

#[cfg(feature = "wafer")]
pub use session::Session;
#[cfg(feature = "wafer")]
pub use tunnel::Tunnel;

// Grows the wasm memory as needed, like std's default allocator (see Cargo.toml for why talc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
