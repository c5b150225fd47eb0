//! [`KeyStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::keys::{KeyStore, StoredKey};

/// Tables, created at open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    hash        BLOB NOT NULL,
    scopes      TEXT NOT NULL,   -- JSON array
    description TEXT,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
";

const COLUMNS: &str = "id, hash, scopes, description, created_ms, revoked_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let scopes: String = row.get(2)?;
    Ok(StoredKey {
        id: row.get(0)?,
        hash: row.get(1)?,
        scopes: serde_json::from_str(&scopes).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        description: row.get(3)?,
        created_ms: row.get(4)?,
        revoked_ms: row.get(5)?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |conn| {
            let scopes = serde_json::to_string(&key.scopes)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            conn.execute(
                &format!("INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    key.id,
                    key.hash,
                    scopes,
                    key.description,
                    key.created_ms,
                    key.revoked_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn key(&self, id: &str) -> Result<Option<StoredKey>, StoreError> {
        let id = id.to_owned();
        self.read_with(move |conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], from_row)
                .optional()
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read_with(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))?;
            stmt.query_map([], from_row)?.collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }
}
