//! `cometa-sdk`: the thin `#[wasm_bindgen]` host over `cometa-client`, giving browsers and
//! Node ≥ 20 the API of Tencent Wafer's `wafer2-client-sdk` 2.1.0. It owns only I/O: fetch,
//! WebSocket, timers, storage, JS callbacks and JS errors; the tunnel's protocol logic lives
//! in the sans-IO core.
//!
//! - [`error`]: the `ERR_*` types and the `RequestError` JS class (an `Error` subclass,
//!   defined in `js/host.js`).
//! - [`js`]: the few global JS functions imported directly (`setTimeout`, …) and helpers.
//! - [`settle`]: Wafer's `success`/`fail`/`complete` callbacks or a Promise when none given.
//! - [`config`]: process-wide settings: login URL, code provider, WebSocket constructor.
//! - [`session`]: `Session.get/set/clear` over `localStorage`, falling back to memory.
//! - [`http`]: one `wx.request`-shaped HTTP call, performed by `js/host.js` over `fetch`.
//! - [`auth`]: `login`, `loginWithCode` and `request` with Wafer's re-login rule.
//! - [`tunnel`]: the `Tunnel` class: runs the core's loop (actions, events, one timer).
//! - [`socket`]: one WebSocket with its handlers, detached when dropped.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod js;
pub mod session;
pub mod settle;
pub mod socket;
pub mod tunnel;

pub use session::Session;
pub use tunnel::Tunnel;

// `LockedAllocator` rather than `AssumeSingleThreaded`: same size here, and no `unsafe`.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());
