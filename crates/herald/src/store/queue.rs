//! Durable point-to-point queues (STOMP `/queue/<name>`): messages wait here until a consumer
//! acknowledges them, across restarts.

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
