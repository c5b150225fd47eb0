//! [`WebhookStore`] on SQLite: subscriptions and deliveries next to the log, written through the
//! store's single writer thread.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::webhooks::WebhookStore;
use crate::webhook::model::{Delivery, State, Status, Subscription};

/// Tables, created at open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS subscriptions (
    id                         TEXT PRIMARY KEY,
    spec                       TEXT NOT NULL,   -- JSON of webhook::model::Spec
    state                      TEXT NOT NULL,
    disabled_reason            TEXT,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_ms INTEGER,
    cursor                     INTEGER NOT NULL,
    failing_since_ms           INTEGER,
    created_ms                 INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id              TEXT PRIMARY KEY,           -- ULID-based, so ordering by id is by creation
    subscription_id TEXT NOT NULL,
    msg_id          TEXT NOT NULL,
    event_seqs      TEXT NOT NULL,              -- JSON array
    event_ids       TEXT NOT NULL,              -- JSON array
    batch           INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        TEXT NOT NULL,              -- JSON array of attempts
    next_attempt_ms INTEGER,
    created_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, status, id);
";

const SUB_COLUMNS: &str = "id, spec, state, disabled_reason, secret, previous_secret, previous_secret_expires_ms, cursor, failing_since_ms, created_ms";
const DELIVERY_COLUMNS: &str = "id, subscription_id, msg_id, event_seqs, event_ids, batch, status, attempts, next_attempt_ms, created_ms";

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn sub_from_row(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    let state: String = row.get(2)?;
    Ok(Subscription {
        id: row.get(0)?,
        spec: from_json(row, 1)?,
        state: if state == "disabled" {
            State::Disabled
        } else {
            State::Enabled
        },
        disabled_reason: row.get(3)?,
        secret: row.get(4)?,
        previous_secret: row.get(5)?,
        previous_secret_expires_ms: row.get(6)?,
        cursor: row.get(7)?,
        failing_since_ms: row.get(8)?,
        created_ms: row.get(9)?,
    })
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = row.get(6)?;
    Ok(Delivery {
        id: row.get(0)?,
        subscription_id: row.get(1)?,
        msg_id: row.get(2)?,
        event_seqs: from_json(row, 3)?,
        event_ids: from_json(row, 4)?,
        batch: row.get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
        attempts: from_json(row, 7)?,
        next_attempt_ms: row.get(8)?,
        created_ms: row.get(9)?,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_subscription(&self, sub: &Subscription) -> Result<(), StoreError> {
        let sub = sub.clone();
        self.write(move |conn| {
            let spec = serde_json::to_string(&sub.spec).map_err(json_err)?;
            conn.execute(
                &format!("INSERT INTO subscriptions ({SUB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    sub.id,
                    spec,
                    sub.state.as_str(),
                    sub.disabled_reason,
                    sub.secret,
                    sub.previous_secret,
                    sub.previous_secret_expires_ms,
                    sub.cursor,
                    sub.failing_since_ms,
                    sub.created_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn save_subscription(&self, sub: &Subscription) -> Result<bool, StoreError> {
        let sub = sub.clone();
        self.write(move |conn| {
            let spec = serde_json::to_string(&sub.spec).map_err(json_err)?;
            let n = conn.execute(
                "UPDATE subscriptions SET spec = ?2, state = ?3, disabled_reason = ?4, secret = ?5, previous_secret = ?6,
                 previous_secret_expires_ms = ?7, cursor = ?8, failing_since_ms = ?9 WHERE id = ?1",
                params![
                    sub.id,
                    spec,
                    sub.state.as_str(),
                    sub.disabled_reason,
                    sub.secret,
                    sub.previous_secret,
                    sub.previous_secret_expires_ms,
                    sub.cursor,
                    sub.failing_since_ms
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        // Each write runs in its own savepoint: these two deletes commit together or not at all.
        self.write(move |conn| {
            conn.execute("DELETE FROM deliveries WHERE subscription_id = ?1", [&id])?;
            let n = conn.execute("DELETE FROM subscriptions WHERE id = ?1", [&id])?;
            Ok(n == 1)
        })
        .await
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.read_with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUB_COLUMNS} FROM subscriptions ORDER BY id"
            ))?;
            stmt.query_map([], sub_from_row)?.collect()
        })
        .await
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let id = id.to_owned();
        self.read_with(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SUB_COLUMNS} FROM subscriptions WHERE id = ?1"
            ))?
            .query_row([id], sub_from_row)
            .optional()
        })
        .await
    }

    async fn enqueue(
        &self,
        subscription_id: &str,
        cursor: u64,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let id = subscription_id.to_owned();
        let deliveries = deliveries.to_vec();
        self.write(move |conn| {
            for d in &deliveries {
                conn.prepare_cached(&format!(
                    "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?
                .execute(params![
                    d.id,
                    d.subscription_id,
                    d.msg_id,
                    serde_json::to_string(&d.event_seqs).map_err(json_err)?,
                    serde_json::to_string(&d.event_ids).map_err(json_err)?,
                    d.batch,
                    d.status.as_str(),
                    serde_json::to_string(&d.attempts).map_err(json_err)?,
                    d.next_attempt_ms,
                    d.created_ms
                ])?;
            }
            conn.prepare_cached("UPDATE subscriptions SET cursor = ?2 WHERE id = ?1")?.execute(params![id, cursor])?;
            Ok(())
        })
        .await
    }

    async fn set_cursor(&self, subscription_id: &str, cursor: u64) -> Result<(), StoreError> {
        let id = subscription_id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE subscriptions SET cursor = ?2 WHERE id = ?1",
                params![id, cursor],
            )?;
            Ok(())
        })
        .await
    }

    async fn save_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let d = delivery.clone();
        self.write(move |conn| {
            conn.prepare_cached("UPDATE deliveries SET status = ?2, attempts = ?3, next_attempt_ms = ?4 WHERE id = ?1")?
                .execute(params![
                    d.id,
                    d.status.as_str(),
                    serde_json::to_string(&d.attempts).map_err(json_err)?,
                    d.next_attempt_ms
                ])?;
            Ok(())
        })
        .await
    }

    async fn open_deliveries(&self, subscription_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let id = subscription_id.to_owned();
        self.read_with(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ?1 AND status IN ('pending', 'retrying') ORDER BY id"
            ))?;
            stmt.query_map([id], delivery_from_row)?.collect()
        })
        .await
    }

    async fn deliveries(
        &self,
        subscription_id: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let id = subscription_id.to_owned();
        self.read_with(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            stmt.query_map(params![id, status.map(Status::as_str), limit], delivery_from_row)?.collect()
        })
        .await
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_owned();
        self.read_with(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
            ))?
            .query_row([id], delivery_from_row)
            .optional()
        })
        .await
    }
}
