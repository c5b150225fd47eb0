//! Durable point-to-point queues (STOMP `/queue/<name>`): messages wait here until a consumer
//! acknowledges them, across restarts.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::StoreError;

/// A message on its way into a queue.
#[derive(Debug, Clone)]
pub struct NewQueueMessage {
    pub queue: String,
    pub message_id: String,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// Application headers, passed through to the MESSAGE.
    pub headers: Vec<(String, String)>,
}

/// A message stored in a queue.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// Position in the store: lower rows are older and are delivered first.
    pub row: u64,
    pub queue: String,
    pub message_id: String,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    /// Whether it may have been delivered before (it was handed to a consumer at least once).
    pub redelivered: bool,
}

/// Where queues keep their messages.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Every stored message of every queue, oldest first.
    async fn load_queues(&self) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Stores messages atomically; returns them with their rows once durable.
    async fn enqueue(
        &self,
        messages: Vec<NewQueueMessage>,
    ) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Records that these messages were handed to a consumer, so that after a crash they come
    /// back with `redelivered:true`.
    async fn mark_delivered(&self, rows: Vec<u64>) -> Result<(), StoreError>;

    /// Deletes acknowledged messages.
    async fn remove(&self, rows: Vec<u64>) -> Result<(), StoreError>;
}

/// Leases on stored messages, for queues shared by the nodes of a cluster: a node claims the
/// messages its consumers have room for, keeps its leases alive while it runs, and gives back
/// what its consumers reject or leave; a dead node's leases expire and its messages become free.
#[async_trait]
pub trait QueueLeases: Send + Sync + 'static {
    /// Claims up to `limit` of the oldest messages of `queue` that are free or whose lease has
    /// expired, for `owner`, until `lease` from now. No other owner can claim them meanwhile.
    async fn claim(
        &self,
        queue: &str,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Extends every lease `owner` holds to `lease` from now.
    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError>;

    /// Frees messages `owner` holds (`handed_out`: they reached a consumer, so they come back
    /// `redelivered`); messages another owner has claimed since are left alone.
    async fn release(
        &self,
        owner: &str,
        rows: Vec<u64>,
        handed_out: bool,
    ) -> Result<(), StoreError>;

    /// Frees every message `owner` holds (a node shutting down).
    async fn release_all(&self, owner: &str) -> Result<(), StoreError>;
}
