//! API keys: `hk_<id>_<secret>`. Only a SHA-256 of the whole key is stored (the secret is 32
//! random bytes, so a slow password hash would add nothing); the id finds the row and the hash
//! is compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A freshly made key: what to show once, and what to store.
pub struct NewKey {
    pub id: String,
    /// The full key, shown to its owner once.
    pub key: String,
    pub hash: Vec<u8>,
}

/// Makes a key with a new id.
pub fn generate() -> NewKey {
    let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the OS random source is available");
    let key = format!("hk_{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    NewKey {
        hash: hash(&key),
        id: format!("key_{id}"),
        key,
    }
}

/// The stored form of a key.
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The id a presented key claims (`key_<id>`), if it has the key shape.
pub fn id_of(key: &str) -> Option<String> {
    let rest = key.strip_prefix("hk_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then(|| format!("key_{id}"))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_id_and_hash_stably() {
        let k = generate();
        assert_eq!(id_of(&k.key).as_deref(), Some(k.id.as_str()));
        assert!(constant_time_eq(&hash(&k.key), &k.hash));
        assert!(!constant_time_eq(&hash("hk_x_y"), &k.hash));
        assert_eq!(id_of("nope"), None);
        assert_eq!(id_of("hk__x"), None);
        assert_ne!(generate().key, k.key);
    }
}
