//! Password hashing with Argon2id, off the async runtime and bounded.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory by design; doing it on a
//! runtime thread would stall every tunnel served by that thread, so each call goes to tokio's
//! blocking pool. That pool grows to hundreds of threads, so [`Hasher`] admits at most a
//! configured number of hashes at once (default: the cores) and refuses the rest after a short
//! wait: without it 200 concurrent logins took 200 threads and 2.3 GiB that stayed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

/// Shortest password accepted (NIST SP 800-63B's floor for user-chosen secrets).
pub const MIN_LEN: usize = 8;
/// Longest accepted: bounds the work one request can ask of the hasher.
pub const MAX_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be between {MIN_LEN} and {MAX_LEN} bytes")]
    Length,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("too many password checks in progress; retry shortly")]
    Busy,
}

fn hasher() -> Argon2<'static> {
    // OWASP's recommended Argon2id parameters (the crate's defaults: 19 MiB, t=2, p=1).
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn check(password: &str) -> Result<(), PasswordError> {
    if (MIN_LEN..=MAX_LEN).contains(&password.len()) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// Runs Argon2 on the blocking pool, at most `permits` hashes at a time.
pub struct Hasher {
    permits: Arc<Semaphore>,
    wait: Duration,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Counts a running hash while it lives, even if the hash panics.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hasher {
    /// `permits` hashes at once; a caller waits at most `wait` for one before [`PasswordError::Busy`].
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wait,
            running: Arc::default(),
            peak: Arc::default(),
        }
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (running, peak) = (self.running.clone(), self.peak.clone());
        // The permit moves into the blocking task: it is held while Argon2 runs, even when the
        // request that asked is dropped (a client that hangs up does not free its slot early).
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = running.fetch_add(1, Ordering::Relaxed) + 1;
            let _running = Running(running);
            peak.fetch_max(now, Ordering::Relaxed);
            work()
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        check(&password)?;
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown user) it verifies
    /// against a throw-away hash anyway, so the answer takes as long either way and timing
    /// does not reveal which usernames exist.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let ok = self
            .run(move || {
                let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
                verify_now(&password, &phc)
            })
            .await?;
        Ok(ok && known)
    }
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_now(password: &str, phc: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::warn!("a stored password hash cannot be parsed");
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(&crate::secret::generate()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() -> Result<(), PasswordError> {
        let hasher = Hasher::new(2, Duration::from_secs(60));
        let h = hasher.hash("correct horse".into()).await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(
            hasher
                .verify("correct horse".into(), Some(h.clone()))
                .await?
        );
        assert!(!hasher.verify("wrong horse!".into(), Some(h)).await?);
        assert!(!hasher.verify("correct horse".into(), None).await?);
        assert!(hasher.hash("short".into()).await.is_err());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_never_exceed_the_permits() {
        let hasher = Arc::new(Hasher::new(2, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.verify(format!("password-{i}"), None).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(false))));
        }
        assert!(hasher.peak() >= 1);
        assert!(hasher.peak() <= 2, "peak {}", hasher.peak());
    }

    #[tokio::test]
    async fn a_full_hasher_refuses_after_its_wait() {
        let hasher = Arc::new(Hasher::new(1, Duration::ZERO));
        let busy = hasher.permits.clone().acquire_owned().await;
        assert!(busy.is_ok());
        let r = hasher.verify("password-x".into(), None).await;
        assert!(matches!(r, Err(PasswordError::Busy)), "{r:?}");
        drop(busy);
        assert!(matches!(
            hasher.verify("password-x".into(), None).await,
            Ok(false)
        ));
    }
}
