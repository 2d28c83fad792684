//! Sessions and the login codes that lead to them: create, look up, rotate a key, revoke.

use async_trait::async_trait;

use super::error::Result;
use super::types::{Session, SessionOptions, SessionTtl};
use crate::secret::SecretHash;

#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Creates the user, or replaces its profile when `userinfo` is given, and keeps a login
    /// code for it.
    async fn put_login_code(
        &self,
        code: SecretHash,
        user_id: &str,
        userinfo: Option<String>,
        expires_at: u64,
    ) -> Result<()>;

    /// Consumes a login code: `Some(user_id)` once, if it exists and has not expired.
    async fn take_login_code(&self, code: SecretHash, now: u64) -> Result<Option<String>>;

    async fn create_session(
        &self,
        key: SecretHash,
        user_id: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<Session>;

    /// The session behind a key, if it exists and has not expired.
    async fn session(&self, key: SecretHash, now: u64) -> Result<Option<Session>>;

    /// Deletes one session; returns it if it existed.
    async fn revoke_session(&self, key: SecretHash) -> Result<Option<Session>>;

    /// Deletes every session of a user; returns how many there were.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<usize>;

    async fn set_session_options(&self, session_id: i64, opts: SessionOptions) -> Result<()>;

    /// Swaps the session's key for `new_key` and moves its expiry to `now + ttl(remember)`
    /// (capped by `not_after`). The old key stops working at once. The session keeps its id,
    /// so the device's delivery cursor and live tunnels carry over.
    async fn rotate_session(
        &self,
        old_key: SecretHash,
        new_key: SecretHash,
        now: u64,
        ttl: SessionTtl,
    ) -> Result<Option<(Session, SessionOptions)>>;
}
