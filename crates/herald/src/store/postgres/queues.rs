//! The PostgreSQL side of [`QueueStore`]: one table; `pos` (a sequence) orders each queue.

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::Row;

use super::{PostgresStore, backend, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::queue::{NewQueueMessage, QueueStore, QueuedMessage};

#[async_trait]
impl QueueStore for PostgresStore {
    async fn load_queues(&self) -> Result<Vec<QueuedMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT pos, queue, message_id, content_type, body, headers, delivered
             FROM queue_messages ORDER BY pos",
        )
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let headers: Option<String> = r.try_get(5)?;
                let body: Vec<u8> = r.try_get(4)?;
                Ok(QueuedMessage {
                    row: to_u64(r.try_get(0)?),
                    queue: r.try_get(1)?,
                    message_id: r.try_get(2)?,
                    content_type: r.try_get(3)?,
                    body: Bytes::from(body),
                    headers: headers
                        .and_then(|h| serde_json::from_str(&h).ok())
                        .unwrap_or_default(),
                    redelivered: r.try_get(6)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(backend)
    }

    async fn enqueue(
        &self,
        messages: Vec<NewQueueMessage>,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let mut stored = Vec::with_capacity(messages.len());
        for m in messages {
            let headers = (!m.headers.is_empty())
                .then(|| serde_json::to_string(&m.headers).expect("string pairs serialise"));
            let pos: i64 = sqlx::query_scalar(
                "INSERT INTO queue_messages (queue, message_id, content_type, body, headers)
                 VALUES ($1, $2, $3, $4, $5) RETURNING pos",
            )
            .bind(&m.queue)
            .bind(&m.message_id)
            .bind(&m.content_type)
            .bind(&m.body[..])
            .bind(headers)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            stored.push(QueuedMessage {
                row: to_u64(pos),
                queue: m.queue,
                message_id: m.message_id,
                content_type: m.content_type,
                body: m.body,
                headers: m.headers,
                redelivered: false,
            });
        }
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn mark_delivered(&self, rows: Vec<u64>) -> Result<(), StoreError> {
        let rows: Vec<i64> = rows.into_iter().map(to_i64).collect();
        sqlx::query("UPDATE queue_messages SET delivered = TRUE WHERE pos = ANY($1)")
            .bind(rows)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn remove(&self, rows: Vec<u64>) -> Result<(), StoreError> {
        let rows: Vec<i64> = rows.into_iter().map(to_i64).collect();
        sqlx::query("DELETE FROM queue_messages WHERE pos = ANY($1)")
            .bind(rows)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
