//! Test only (feature `test-hooks`, which only this crate's tests turn on): ways to make a
//! connection task or a request handler panic, so tests can prove that a panic neither leaks
//! a connection's slots nor takes the relay down. Real bugs are what these stand in for.

/// A frame of this type (either dialect) panics the connection task that reads it.
pub const PANIC_PACKET: &str = "test_panic";

/// `GET /test-hooks/panic`.
pub async fn panic_handler() -> &'static str {
    panic!("test hook: a handler panicked")
}

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of a Wafer tunnel's and of a native connection's future, as last started: most of
/// what an idle connection costs, so a test can hold them to a budget.
pub static TUNNEL_FUTURE_BYTES: AtomicUsize = AtomicUsize::new(0);
pub static NATIVE_FUTURE_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn record_size<F>(to: &AtomicUsize, future: &F) {
    to.store(std::mem::size_of_val(future), Ordering::Relaxed);
}

/// Bytes of a connection's socket and stream positions (`Io`), the part of its future that
/// cannot shrink.
pub fn io_bytes() -> usize {
    std::mem::size_of::<crate::conn::Io>()
}
