//! Test only (feature `test-hooks`, which only this crate's tests turn on): ways to make a
//! connection task or a request handler panic, so tests can prove that a panic neither leaks
//! a connection's slots nor takes the relay down. Real bugs are what these stand in for.

/// A frame of this type (either dialect) panics the connection task that reads it.
pub const PANIC_PACKET: &str = "test_panic";

/// `GET /test-hooks/panic`.
pub async fn panic_handler() -> &'static str {
    panic!("test hook: a handler panicked")
}
