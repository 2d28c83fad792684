//! Thin wasm-bindgen host over `cometa-client`. Work in progress: see the SDK issue.
