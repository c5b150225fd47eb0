//! The log as the rest of Herald sees it: publish, read, follow.

use std::sync::Arc;

use super::event::{Event, NewEvent};
use super::follow::{FollowError, FollowStats, Follower, Start};
use super::rates::TopicRates;
use super::topic::PatternSet;
use crate::bus::Bus;
use crate::store::{Appended, Store, StoreError};

/// The durable log and its live fan-out.
pub struct Log {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    stats: Arc<FollowStats>,
    rates: TopicRates,
}

impl Log {
    /// Wraps a store and the bus it announces commits on.
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Self {
            store,
            bus,
            stats: Arc::default(),
            rates: TopicRates::default(),
        }
    }

    /// Appends one request's events atomically; see [`Store::append`].
    pub async fn publish(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        let appended = self.store.append(events).await?;
        for a in appended.iter().filter(|a| a.created) {
            self.rates.record(&a.event.topic, 1);
        }
        Ok(appended)
    }

    /// Up to `limit` events matching `patterns` after `after`; an error if retention removed
    /// some of them (`after = 0` means "from the oldest retained" and never fails that way).
    pub async fn read(
        &self,
        patterns: &PatternSet,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, FollowError> {
        self.ensure_retained(patterns, after).await?;
        Ok(self.store.read(patterns, after, limit).await?)
    }

    /// Fails with [`FollowError::Expired`] when retention removed events after `after`.
    pub async fn ensure_retained(
        &self,
        patterns: &PatternSet,
        after: u64,
    ) -> Result<(), FollowError> {
        if after > 0 {
            let removed = self.store.removed_through(patterns).await?;
            if removed > after {
                return Err(FollowError::Expired {
                    after,
                    resume_after: removed,
                });
            }
        }
        Ok(())
    }

    /// A reader of `patterns` from `start`, replaying then live.
    pub fn follow(&self, patterns: PatternSet, start: Start) -> Follower {
        // Subscribe before anything is read, so nothing committed in between is missed.
        let live = self.bus.subscribe();
        Follower::new(
            self.store.clone(),
            live,
            patterns,
            start,
            self.stats.clone(),
        )
    }

    /// The store, for topic statistics and readiness.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Events per topic over the last minute.
    pub fn rates(&self) -> &TopicRates {
        &self.rates
    }

    /// Counters shared by all followers.
    pub fn stats(&self) -> &FollowStats {
        &self.stats
    }
}
