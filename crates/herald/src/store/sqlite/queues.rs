//! The SQLite side of [`QueueStore`]: one table, written through the store's single writer.

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::params;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::queue::{NewQueueMessage, QueueStore, QueuedMessage};

/// Run at open, after the events schema.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    pos          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue        TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    content_type TEXT,
    body         BLOB    NOT NULL,
    headers      TEXT,               -- JSON array of [name, value] pairs, NULL when none
    delivered    INTEGER NOT NULL DEFAULT 0
);
";

#[async_trait]
impl QueueStore for SqliteStore {
    async fn load_queues(&self) -> Result<Vec<QueuedMessage>, StoreError> {
        self.read_with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT pos, queue, message_id, content_type, body, headers, delivered
                 FROM queue_messages ORDER BY pos",
            )?;
            let rows = stmt.query_map([], |r| {
                let headers: Option<String> = r.get(5)?;
                let body: Vec<u8> = r.get(4)?;
                Ok(QueuedMessage {
                    row: r.get(0)?,
                    queue: r.get(1)?,
                    message_id: r.get(2)?,
                    content_type: r.get(3)?,
                    body: Bytes::from(body),
                    headers: headers
                        .and_then(|h| serde_json::from_str(&h).ok())
                        .unwrap_or_default(),
                    redelivered: r.get::<_, i64>(6)? != 0,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn enqueue(
        &self,
        messages: Vec<NewQueueMessage>,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.write(move |conn| {
            let mut stored = Vec::with_capacity(messages.len());
            for m in messages {
                let headers = (!m.headers.is_empty())
                    .then(|| serde_json::to_string(&m.headers).expect("string pairs serialise"));
                conn.prepare_cached(
                    "INSERT INTO queue_messages (queue, message_id, content_type, body, headers)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    m.queue,
                    m.message_id,
                    m.content_type,
                    &m.body[..],
                    headers
                ])?;
                stored.push(QueuedMessage {
                    row: conn.last_insert_rowid() as u64,
                    queue: m.queue,
                    message_id: m.message_id,
                    content_type: m.content_type,
                    body: m.body,
                    headers: m.headers,
                    redelivered: false,
                });
            }
            Ok(stored)
        })
        .await
    }

    async fn mark_delivered(&self, rows: Vec<u64>) -> Result<(), StoreError> {
        self.write(move |conn| {
            for row in rows {
                conn.prepare_cached("UPDATE queue_messages SET delivered = 1 WHERE pos = ?1")?
                    .execute([row])?;
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, rows: Vec<u64>) -> Result<(), StoreError> {
        self.write(move |conn| {
            for row in rows {
                conn.prepare_cached("DELETE FROM queue_messages WHERE pos = ?1")?
                    .execute([row])?;
            }
            Ok(())
        })
        .await
    }
}
