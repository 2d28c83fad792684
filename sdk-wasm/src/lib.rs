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
// Configured for module size, which matters more here than the allocator's speed or memory
// efficiency (the SDK's buffers are few, small and short-lived): each growth of the memory is
// claimed as a heap of its own rather than extending the last (`WasmGrowAndClaim`: no
// extend code), and 32 free lists tracked in a `u32` instead of talc's wasm default of 64 in a
// `u64` (two per doubling of size up to ~0.5 MB, one list for everything larger): 0.1 KB
// gzipped per module.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::cell::TalcSyncCell<talc::wasm::WasmGrowAndClaim, Bins> =
    talc::cell::TalcSyncCell::new_wasm(talc::wasm::WasmGrowAndClaim);

#[cfg(target_arch = "wasm32")]
struct Bins;

#[cfg(target_arch = "wasm32")]
impl talc::base::binning::Binning for Bins {
    type AvailabilityBitField = u32;

    fn size_to_bin(size: usize) -> u32 {
        talc::base::binning::linear_extent_then_linearly_divided_exponential_binning::<2, 4>(size)
    }
}
