//! Storage for webhook subscriptions and their deliveries.

use async_trait::async_trait;

use super::StoreError;
use crate::webhook::model::{Delivery, Status, Subscription};

/// Where subscriptions and deliveries live. Each subscription's worker is the only writer of
/// its subscription's state and deliveries, so these calls need no compare-and-swap.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Stores a new subscription.
    async fn insert_subscription(&self, sub: &Subscription) -> Result<(), StoreError>;

    /// Replaces a subscription's stored state; `false` if it no longer exists.
    async fn save_subscription(&self, sub: &Subscription) -> Result<bool, StoreError>;

    /// Deletes a subscription and its deliveries; `false` if it did not exist.
    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError>;

    /// Every subscription, oldest first.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// One subscription.
    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError>;

    /// Records new deliveries and moves the subscription's cursor, in one transaction, so an
    /// event is never skipped nor turned into deliveries twice.
    async fn enqueue(
        &self,
        subscription_id: &str,
        cursor: u64,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError>;

    /// Moves the subscription's cursor (replay), nothing else.
    async fn set_cursor(&self, subscription_id: &str, cursor: u64) -> Result<(), StoreError>;

    /// Saves a delivery's status, attempts and next attempt time.
    async fn save_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;

    /// A subscription's pending and retrying deliveries, oldest first.
    async fn open_deliveries(&self, subscription_id: &str) -> Result<Vec<Delivery>, StoreError>;

    /// A subscription's deliveries, newest first, optionally of one status.
    async fn deliveries(
        &self,
        subscription_id: &str,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery.
    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;
}
