//! [`KeyStore`] on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PostgresStore, backend, json_column};
use crate::store::StoreError;
use crate::store::keys::{KeyStore, StoredKey};

macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT id, hash, scopes, description, created_ms, revoked_ms FROM api_keys ",
            $tail
        )
    };
}

fn from_row(row: &PgRow) -> sqlx::Result<StoredKey> {
    Ok(StoredKey {
        id: row.try_get(0)?,
        hash: row.try_get(1)?,
        scopes: json_column(row, 2)?,
        description: row.try_get(3)?,
        created_ms: row.try_get(4)?,
        revoked_ms: row.try_get(5)?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let scopes = serde_json::to_string(&key.scopes).expect("strings serialise");
        sqlx::query(
            "INSERT INTO api_keys (id, hash, scopes, description, created_ms, revoked_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.hash)
        .bind(scopes)
        .bind(&key.description)
        .bind(key.created_ms)
        .bind(key.revoked_ms)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn key(&self, id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(select_keys!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.as_ref().map(from_row).transpose().map_err(backend)
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(select_keys!("ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(from_row)
            .collect::<sqlx::Result<_>>()
            .map_err(backend)
    }

    async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL")
                .bind(id)
                .bind(now_ms)
                .execute(self.pool())
                .await
                .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}
