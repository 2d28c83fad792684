//! The store's one error type, engine-neutral: an engine turns its own errors into
//! [`StoreError::Engine`]. A leaf, like [`super::types`].

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed a read or a write (SQLite, or a server for a networked engine).
    #[error("database: {0}")]
    Engine(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot prepare the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store is shut down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;
