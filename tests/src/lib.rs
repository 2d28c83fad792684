//! End-to-end tests across processes live under `tests/`.
