//! The `Store`: the durable log; beside it, storage for webhooks, keys and queues.
//!
//! The core talks only to this trait; start-up code picks the backend. Every backend assigns
//! `seq` at append, strictly increasing, and never lets a reader see a later `seq` before an
//! earlier one is visible, so `seq` is a safe resume cursor.

pub mod keys;
pub mod postgres;
pub mod queue;
pub mod sqlite;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::event::{Event, NewEvent};
use crate::core::topic::PatternSet;

/// A storage failure. The message is for operators (logged), not for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("the store is shut down")]
    Closed,
}

/// One event of an append, with whether it was stored now or was already there.
#[derive(Debug, Clone)]
pub struct Appended {
    pub event: Arc<Event>,
    /// `false` when the id was already stored on the topic (an idempotent retry).
    pub created: bool,
}

/// A topic's statistics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    pub topic: String,
    /// Events currently retained.
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Unix milliseconds of the last publish.
    #[serde(skip)]
    pub last_published_ms: Option<i64>,
    /// Highest `seq` that retention removed from this topic (0 when none).
    #[serde(skip)]
    pub removed_through: u64,
}

/// What retention may remove.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Events older than this many milliseconds before now go.
    pub max_age_ms: i64,
    /// A topic keeps at most this many newest events (`None`: no count limit).
    pub max_events_per_topic: Option<u64>,
}

/// The durable event log.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends one request's events atomically, with consecutive `seq`s for the new ones.
    /// An id already stored on the topic yields the stored event (`created: false`).
    /// Returns only once the events are durable per the configured sync policy, and after
    /// announcing the new ones on the bus.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError>;

    /// Up to `limit` events matching `patterns` with `seq > after`, oldest first.
    async fn read(
        &self,
        patterns: &PatternSet,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The events with these `seq`s that are still retained, in `seq` order.
    async fn events_at(&self, seqs: &[u64]) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The highest `seq` of an event published before `time_ms` (0 when none): where a replay
    /// "since a time" starts.
    async fn seq_before(&self, time_ms: i64) -> Result<u64, StoreError>;

    /// The highest committed `seq` (0 for an empty log).
    fn head(&self) -> u64;

    /// Re-reads the highest committed `seq` from storage, so appends committed by other nodes
    /// sharing it advance [`Store::head`]; returns the new head. A store only this process
    /// writes has nothing to re-read.
    async fn refresh_head(&self) -> Result<u64, StoreError> {
        Ok(self.head())
    }

    /// Tells the store that `seq` is committed (the cluster bus saw another node's commit), so
    /// [`Store::head`] covers it without a query. A store only this process writes ignores it.
    fn observe_head(&self, _seq: u64) {}

    /// Every topic, by name.
    async fn topics(&self) -> Result<Vec<TopicInfo>, StoreError>;

    /// One topic, if it was ever published to.
    async fn topic(&self, name: &str) -> Result<Option<TopicInfo>, StoreError>;

    /// The highest `seq` retention removed from any topic matching `patterns` (0 when none).
    async fn removed_through(&self, patterns: &PatternSet) -> Result<u64, StoreError>;

    /// Removes what the policy no longer keeps; returns how many events went.
    async fn enforce_retention(&self, policy: RetentionPolicy) -> Result<u64, StoreError>;

    /// Checks that the store answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and stops; later calls fail with [`StoreError::Closed`].
    async fn close(&self);
}
