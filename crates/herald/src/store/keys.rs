//! Storage for API keys (hashes only).

use async_trait::async_trait;

use super::StoreError;

/// A stored key: never the key itself, only its hash.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub description: Option<String>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// Where API keys live.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key.
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// One key by id, revoked or not.
    async fn key(&self, id: &str) -> Result<Option<StoredKey>, StoreError>;

    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Marks a key revoked; `false` if there is no such unrevoked key.
    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
}
