//! Password hashing with Argon2id, off the async runtime.
//!
//! Hashing costs tens of milliseconds of CPU by design; doing it on a runtime thread would
//! stall every tunnel served by that thread, so each call goes to tokio's blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

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

/// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check(&password)?;
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
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

/// Whether `password` matches `stored`. With no stored hash (unknown user) it verifies
/// against a throw-away hash anyway, so the answer takes as long either way and timing does
/// not reveal which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let ok = tokio::task::spawn_blocking(move || {
        let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
        verify_now(&password, &phc)
    })
    .await
    .unwrap_or(false);
    ok && known
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
        let h = hash("correct horse".into()).await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse!".into(), Some(h)).await);
        assert!(!verify("correct horse".into(), None).await);
        assert!(hash("short".into()).await.is_err());
        Ok(())
    }
}
