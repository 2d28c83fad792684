//! Durable state: streams (every stream's messages, heads and delivery cursors, a user's
//! personal stream being `msg:<user_id>`), sessions and login codes, users and accounts.
//!
//! The seam for engines is one trait per noun — [`Streams`], [`Sessions`], [`Accounts`],
//! [`Upkeep`] — and [`Store`], all four at once, which the relay holds. They speak only the
//! values of [`types`] and [`StoreError`]: no SQL, no connection handles, so a second engine
//! (Redis, for scale-out) implements the same traits. [`sqlite`] is the embedded default.
//!
//! Layers, bottom to top; a module imports only modules below it:
//! 1. [`types`], [`error`]: the values and the error the traits speak (leaves).
//! 2. [`streams`], [`sessions`], [`accounts`], [`upkeep`]: the traits, one per noun; each
//!    imports only layer 1.
//! 3. [`sqlite`]: the engine; imports layers 1 and 2 (its own files' order is in its doc).
//! 4. this module: [`Store`] and the re-exports callers use; imports layers 1 and 2.
//!
//! Callers (`crate::*`) hold an `Arc<dyn Store>` and never name an engine, except `lib.rs`,
//! which opens one.

pub mod accounts;
pub mod error;
pub mod sessions;
pub mod sqlite;
pub mod streams;
pub mod types;
pub mod upkeep;

pub use crate::secret::SecretHash;
pub use accounts::Accounts;
pub use error::{Result, StoreError};
pub use sessions::Sessions;
pub use streams::Streams;
pub use types::{
    AfterCommit, AfterMerge, NewMessage, Profile, ProfilePatch, Retention, Session, SessionOptions,
    SessionTtl, StoreStats, StoredMessage, StreamId, StreamInfo, StreamMessage, WriteMode,
    WriteOutcome,
};
pub use upkeep::Upkeep;

/// Everything the relay asks of its store: every engine that implements the four nouns is one.
pub trait Store: Streams + Sessions + Accounts + Upkeep {}

impl<T: Streams + Sessions + Accounts + Upkeep> Store for T {}
