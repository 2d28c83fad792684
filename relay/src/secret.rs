//! Random secrets (session keys, login codes, tickets, tunnel ids) and how they are compared.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a secret (session key, login code). Secrets themselves are never stored.
pub type SecretHash = [u8; 32];

/// A fresh 256-bit secret, hex-encoded (64 characters, safe in headers and URLs).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A shorter random id for things that are names, not credentials (tunnel ids).
pub fn generate_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Secrets are stored and looked up by their SHA-256, so a leaked database holds no usable
/// session key or login code.
pub fn hash(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares in constant time; hashing first makes the lengths equal and hides them.
pub fn matches(given: &str, expected: &str) -> bool {
    hash(given).ct_eq(&hash(expected)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_hex() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn matching() {
        assert!(matches("k1", "k1"));
        assert!(!matches("k1", "k2"));
        assert!(!matches("", "k1"));
    }
}
