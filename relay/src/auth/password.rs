//! Password hashing with Argon2id, off the async runtime and bounded.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory by design; doing it on a
//! runtime thread would stall every tunnel served by that thread, so each call goes to tokio's
//! blocking pool. That pool grows to hundreds of threads, so [`Hasher`] admits at most a
//! configured number of hashes at once (default: the cores) and refuses the rest after a short
//! wait: without it 200 concurrent logins took 200 threads and 2.3 GiB that stayed.
//!
//! Argon2's 19 MiB of working memory is kept and reused, one buffer per permit: allocated per
//! hash, each blocking thread's malloc arena kept its own copy (RSS grew by 19 MiB per thread
//! the pool had ever used, 175 MiB after 100 sequential logins).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// Idle working memory, at most one buffer per permit.
    memory: Arc<Mutex<Vec<Memory>>>,
}

/// Argon2's working memory (1 KiB blocks).
type Memory = Vec<Block>;

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
            memory: Arc::default(),
        }
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (running, peak) = (self.running.clone(), self.peak.clone());
        let pool = self.memory.clone();
        // The permit moves into the blocking task: it is held while Argon2 runs, even when the
        // request that asked is dropped (a client that hangs up does not free its slot early).
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = running.fetch_add(1, Ordering::Relaxed) + 1;
            let _running = Running(running);
            peak.fetch_max(now, Ordering::Relaxed);
            let lock = |p: &Mutex<Vec<Memory>>| p.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut memory = lock(&pool).unwrap_or_default();
            let out = work(&mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            out
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        check(&password)?;
        self.run(move |memory| hash_now(&password, memory)).await?
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
            .run(move |memory| {
                let phc = stored.unwrap_or_else(|| dummy_hash(memory).to_string());
                verify_now(&password, &phc, memory)
            })
            .await?;
        Ok(ok && known)
    }
}

/// `n` blocks of `memory`, grown on first use (or for a stored hash with a larger cost).
fn blocks(memory: &mut Memory, n: usize) -> &mut [Block] {
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

fn hash_now(password: &str, memory: &mut Memory) -> Result<String, PasswordError> {
    let fail = |e: password_hash::Error| PasswordError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hasher()
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| fail(e.into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(fail)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(fail)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(fail)?),
    };
    Ok(phc.to_string())
}

fn verify_now(password: &str, phc: &str, memory: &mut Memory) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    verify_with(password.as_bytes(), phc, memory).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a stored password hash cannot be checked");
        false
    })
}

/// What `PasswordVerifier::verify_password` does, with our working memory.
fn verify_with(password: &[u8], phc: &str, memory: &mut Memory) -> password_hash::Result<bool> {
    let parsed = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let mut out = [0u8; 64];
    let out = out
        .get_mut(..expected.len())
        .ok_or(password_hash::Error::OutputSize {
            provided: std::cmp::Ordering::Greater,
            expected: 64,
        })?;
    let n = params.block_count();
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        out,
        blocks(memory, n),
    )?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(out)? == expected)
}

fn dummy_hash(memory: &mut Memory) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now(&crate::secret::generate(), memory).unwrap_or_default())
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

    #[test]
    fn hashes_are_compatible_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::new();
        let ours = hash_now("correct horse", &mut memory).unwrap_or_default();
        let parsed = PasswordHash::new(&ours);
        assert!(parsed.is_ok_and(|p| hasher().verify_password(b"correct horse", &p).is_ok()));
        let salt = SaltString::encode_b64(b"0123456789abcdef").map_err(|e| e.to_string());
        let theirs = salt.and_then(|s| {
            hasher()
                .hash_password(b"battery staple", &s)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        });
        assert!(theirs.is_ok());
        let theirs = theirs.unwrap_or_default();
        assert!(verify_now("battery staple", &theirs, &mut memory));
        assert!(!verify_now("battery stapler", &theirs, &mut memory));
        assert!(!verify_now(
            "battery staple",
            "$argon2id$garbage",
            &mut memory
        ));
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
