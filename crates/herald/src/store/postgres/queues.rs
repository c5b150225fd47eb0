//! The PostgreSQL side of [`QueueStore`] and [`QueueLeases`]: one table; `pos` (a sequence)
//! orders each queue; `owner` and `lease_until` say which node holds a message, by the
//! database's clock (so the nodes' clocks need not agree).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::Row;

use super::{PostgresStore, backend, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::queue::{NewQueueMessage, QueueLeases, QueueStore, QueuedMessage};

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
            .map(queued)
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

#[async_trait]
impl QueueLeases for PostgresStore {
    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        // SKIP LOCKED: nodes claiming at once take different messages instead of waiting.
        let rows = sqlx::query(
            "UPDATE queue_messages
             SET owner = $2, lease_until = now() + make_interval(secs => $4)
             WHERE pos IN (
                 SELECT pos FROM queue_messages
                 WHERE queue = $1 AND (owner IS NULL OR lease_until < now())
                 ORDER BY pos LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING pos, queue, message_id, content_type, body, headers, delivered",
        )
        .bind(queue)
        .bind(owner)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(lease.as_secs_f64())
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        let mut claimed: Vec<QueuedMessage> = rows
            .iter()
            .map(queued)
            .collect::<sqlx::Result<_>>()
            .map_err(backend)?;
        claimed.sort_by_key(|m| m.row);
        Ok(claimed)
    }

    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE queue_messages SET lease_until = now() + make_interval(secs => $2)
             WHERE owner = $1",
        )
        .bind(owner)
        .bind(lease.as_secs_f64())
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn release(
        &self,
        owner: &str,
        rows: Vec<u64>,
        handed_out: bool,
    ) -> Result<(), StoreError> {
        let rows: Vec<i64> = rows.into_iter().map(to_i64).collect();
        sqlx::query(
            "UPDATE queue_messages
             SET owner = NULL, lease_until = NULL, delivered = delivered OR $3
             WHERE pos = ANY($1) AND owner = $2",
        )
        .bind(rows)
        .bind(owner)
        .bind(handed_out)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn release_all(&self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE queue_messages SET owner = NULL, lease_until = NULL WHERE owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// A `queue_messages` row selected as (pos, queue, message_id, content_type, body, headers,
/// delivered).
fn queued(r: &sqlx::postgres::PgRow) -> sqlx::Result<QueuedMessage> {
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
}
