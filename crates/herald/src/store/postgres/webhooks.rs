//! [`WebhookStore`] on PostgreSQL: subscriptions and deliveries next to the log.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PostgresStore, backend, json_column, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::webhooks::WebhookStore;
use crate::webhook::model::{Delivery, State, Status, Subscription};

macro_rules! select_subscriptions {
    ($tail:literal) => {
        concat!(
            "SELECT id, spec, state, disabled_reason, secret, previous_secret,
                    previous_secret_expires_ms, cursor, failing_since_ms, created_ms
             FROM subscriptions ",
            $tail
        )
    };
}

macro_rules! select_deliveries {
    ($tail:literal) => {
        concat!(
            "SELECT id, subscription_id, msg_id, event_seqs, event_ids, batch, status, attempts,
                    next_attempt_ms, created_ms
             FROM deliveries ",
            $tail
        )
    };
}

fn sub_from_row(row: &PgRow) -> sqlx::Result<Subscription> {
    let state: String = row.try_get(2)?;
    Ok(Subscription {
        id: row.try_get(0)?,
        spec: json_column(row, 1)?,
        state: if state == "disabled" {
            State::Disabled
        } else {
            State::Enabled
        },
        disabled_reason: row.try_get(3)?,
        secret: row.try_get(4)?,
        previous_secret: row.try_get(5)?,
        previous_secret_expires_ms: row.try_get(6)?,
        cursor: to_u64(row.try_get(7)?),
        failing_since_ms: row.try_get(8)?,
        created_ms: row.try_get(9)?,
    })
}

fn delivery_from_row(row: &PgRow) -> sqlx::Result<Delivery> {
    let status: String = row.try_get(6)?;
    Ok(Delivery {
        id: row.try_get(0)?,
        subscription_id: row.try_get(1)?,
        msg_id: row.try_get(2)?,
        event_seqs: json_column(row, 3)?,
        event_ids: json_column(row, 4)?,
        batch: row.try_get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
        attempts: json_column(row, 7)?,
        next_attempt_ms: row.try_get(8)?,
        created_ms: row.try_get(9)?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode a webhook record: {e}")))
}

fn subscriptions(rows: &[PgRow]) -> Result<Vec<Subscription>, StoreError> {
    rows.iter()
        .map(sub_from_row)
        .collect::<sqlx::Result<_>>()
        .map_err(backend)
}

fn deliveries(rows: &[PgRow]) -> Result<Vec<Delivery>, StoreError> {
    rows.iter()
        .map(delivery_from_row)
        .collect::<sqlx::Result<_>>()
        .map_err(backend)
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn insert_subscription(&self, sub: &Subscription) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subscriptions (id, spec, state, disabled_reason, secret, previous_secret,
                 previous_secret_expires_ms, cursor, failing_since_ms, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&sub.id)
        .bind(to_json(&sub.spec)?)
        .bind(sub.state.as_str())
        .bind(&sub.disabled_reason)
        .bind(&sub.secret)
        .bind(&sub.previous_secret)
        .bind(sub.previous_secret_expires_ms)
        .bind(to_i64(sub.cursor))
        .bind(sub.failing_since_ms)
        .bind(sub.created_ms)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn save_subscription(&self, sub: &Subscription) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE subscriptions SET spec = $2, state = $3, disabled_reason = $4, secret = $5,
                 previous_secret = $6, previous_secret_expires_ms = $7, cursor = $8,
                 failing_since_ms = $9
             WHERE id = $1",
        )
        .bind(&sub.id)
        .bind(to_json(&sub.spec)?)
        .bind(sub.state.as_str())
        .bind(&sub.disabled_reason)
        .bind(&sub.secret)
        .bind(&sub.previous_secret)
        .bind(sub.previous_secret_expires_ms)
        .bind(to_i64(sub.cursor))
        .bind(sub.failing_since_ms)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        // The subscription and its deliveries go together or not at all.
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM deliveries WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(select_subscriptions!("ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        subscriptions(&rows)
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query(select_subscriptions!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        Ok(subscriptions(row.as_slice())?.pop())
    }

    async fn enqueue(
        &self,
        subscription_id: &str,
        cursor: u64,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let mut columns = DeliveryColumns::default();
        for d in deliveries {
            columns.push(d)?;
        }
        // The deliveries and the cursor commit together: an event is never skipped nor turned
        // into deliveries twice.
        let mut tx = self.pool().begin().await.map_err(backend)?;
        if !deliveries.is_empty() {
            sqlx::query(
                "INSERT INTO deliveries (id, subscription_id, msg_id, event_seqs, event_ids, batch,
                     status, attempts, next_attempt_ms, created_ms)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::bool[], $7::text[], $8::text[], $9::int8[], $10::int8[])",
            )
            .bind(&columns.id)
            .bind(&columns.subscription_id)
            .bind(&columns.msg_id)
            .bind(&columns.event_seqs)
            .bind(&columns.event_ids)
            .bind(&columns.batch)
            .bind(&columns.status)
            .bind(&columns.attempts)
            .bind(&columns.next_attempt_ms)
            .bind(&columns.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query("UPDATE subscriptions SET cursor = $2 WHERE id = $1")
            .bind(subscription_id)
            .bind(to_i64(cursor))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn set_cursor(&self, subscription_id: &str, cursor: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE subscriptions SET cursor = $2 WHERE id = $1")
            .bind(subscription_id)
            .bind(to_i64(cursor))
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn save_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET status = $2, attempts = $3, next_attempt_ms = $4 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(d.status.as_str())
        .bind(to_json(&d.attempts)?)
        .bind(d.next_attempt_ms)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn open_deliveries(&self, subscription_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(select_deliveries!(
            "WHERE subscription_id = $1 AND status IN ('pending', 'retrying') ORDER BY id"
        ))
        .bind(subscription_id)
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        deliveries(&rows)
    }

    async fn deliveries(
        &self,
        subscription_id: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = match status {
            Some(status) => sqlx::query(select_deliveries!(
                "WHERE subscription_id = $1 AND status = $3 ORDER BY id DESC LIMIT $2"
            ))
            .bind(subscription_id)
            .bind(limit)
            .bind(status.as_str()),
            None => sqlx::query(select_deliveries!(
                "WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(subscription_id)
            .bind(limit),
        };
        let rows = query.fetch_all(self.pool()).await.map_err(backend)?;
        deliveries(&rows)
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(select_deliveries!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        Ok(deliveries(row.as_slice())?.pop())
    }
}

/// New deliveries, one array per column (bound to `unnest`).
#[derive(Default)]
struct DeliveryColumns {
    id: Vec<String>,
    subscription_id: Vec<String>,
    msg_id: Vec<String>,
    event_seqs: Vec<String>,
    event_ids: Vec<String>,
    batch: Vec<bool>,
    status: Vec<&'static str>,
    attempts: Vec<String>,
    next_attempt_ms: Vec<Option<i64>>,
    created_ms: Vec<i64>,
}

impl DeliveryColumns {
    fn push(&mut self, d: &Delivery) -> Result<(), StoreError> {
        self.id.push(d.id.clone());
        self.subscription_id.push(d.subscription_id.clone());
        self.msg_id.push(d.msg_id.clone());
        self.event_seqs.push(to_json(&d.event_seqs)?);
        self.event_ids.push(to_json(&d.event_ids)?);
        self.batch.push(d.batch);
        self.status.push(d.status.as_str());
        self.attempts.push(to_json(&d.attempts)?);
        self.next_attempt_ms.push(d.next_attempt_ms);
        self.created_ms.push(d.created_ms);
        Ok(())
    }
}
