//! Users and what is kept about them: profiles and passwords registered through the users API,
//! per-user keys and data of the CometServer API, when a device was last connected, and the
//! identities nobody registered (anonymous visitors, merged into a user or swept once idle;
//! demo-mode users, which must never take over a user the back end created).

use async_trait::async_trait;

use super::error::Result;
use super::types::{AfterMerge, Profile, ProfilePatch, StoredMessage, WriteMode, WriteOutcome};
use crate::secret::SecretHash;

/// Idle visitors deleted per sweep at most, so one sweep never holds the store long.
pub const SWEEP_BATCH: usize = 500;

#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    async fn write_profile(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        mode: WriteMode,
        now: u64,
    ) -> Result<WriteOutcome>;

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>>;

    /// `(user_id, password_hash)` of the account with this username, if it has a password.
    async fn password_of(&self, username: &str) -> Result<Option<(String, String)>>;

    /// Deletes the user's profile, password, key, stream, cursors, sessions and pending login
    /// codes. `false` if there was no such user.
    async fn delete_user(&self, user_id: &str) -> Result<bool>;

    /// Appends the visitor's personal messages to the user's stream (new seqs after the
    /// user's), trims to `max_len`, deletes the visitor, and returns the moved messages with
    /// their new seqs; `None` if the visitor does not exist. `then` runs with the moved
    /// messages right after the commit, in commit order with every other append (see
    /// [`super::types::AfterCommit`]), so their fan-out stays in seq order.
    async fn merge_visitor(
        &self,
        user_id: &str,
        visitor_id: &str,
        max_len: u64,
        then: AfterMerge,
    ) -> Result<Option<Vec<StoredMessage>>>;

    /// Visitors (ids starting with `prefix`) with no session created and no connection seen
    /// since `cutoff`, at most `limit`.
    async fn idle_visitors(&self, prefix: &str, cutoff: u64, limit: usize) -> Result<Vec<String>>;

    /// Whether demo mode may hand out a key for `user_id` (never a user the back end made).
    async fn claim_demo_user(&self, user_id: &str) -> Result<bool>;

    /// Records when a device of the user was last connected. Not awaited.
    fn touch_last_seen(&self, user_id: &str, now: u64);

    async fn last_seen(&self, user_id: &str) -> Result<Option<u64>>;

    async fn set_user_key(&self, user_id: &str, key: SecretHash) -> Result<()>;
    async fn delete_user_key(&self, user_id: &str) -> Result<bool>;
    async fn user_key_matches(&self, user_id: &str, key: SecretHash) -> Result<bool>;
    /// The stored hash of the user's key, if one is set (CometQL's `users_auth` select).
    async fn user_key_hash(&self, user_id: &str) -> Result<Option<SecretHash>>;

    async fn set_user_data(&self, user_id: &str, data: &str) -> Result<()>;
    async fn user_data(&self, user_id: &str) -> Result<Option<String>>;
}
