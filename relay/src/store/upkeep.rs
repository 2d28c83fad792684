//! Keeping the store in shape: the retention rules per channel prefix, the sweep that applies
//! the age limits, and the counters `GET /api/v1/stats` shows.

use async_trait::async_trait;

use super::error::Result;
use super::types::{Retention, StoreStats};

#[async_trait]
pub trait Upkeep: Send + Sync + 'static {
    async fn set_channel_setting(&self, prefix: &str, retention: Retention) -> Result<()>;
    async fn delete_channel_setting(&self, prefix: &str) -> Result<bool>;
    async fn channel_settings(&self) -> Result<Vec<(String, Retention)>>;

    /// Counters, after every write recorded before the call has been carried out.
    async fn stats(&self) -> Result<StoreStats>;

    /// Drops expired codes and sessions and messages past their expiry.
    async fn sweep(&self, now: u64) -> Result<()>;
}
