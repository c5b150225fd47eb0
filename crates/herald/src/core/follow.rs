//! Following the log: replay what a reader missed, then go live, with no gap and no duplicate.
//!
//! A [`Follower`] subscribes to the bus *before* it reads the store, so every event is either
//! already visible in the store or still to come on the bus (or both; `seq` tells them apart).
//! When the bus reports that the reader lagged (its ring overflowed while the reader was slow),
//! the follower reads the store again from its cursor: a slow reader costs the publisher nothing
//! and loses nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::event::Event;
use super::topic::PatternSet;
use crate::store::{Store, StoreError};

/// Most events handed out by one call to [`Follower::next`].
pub const MAX_BATCH: usize = 256;

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Events with `seq` greater than this (replayed from the log first).
    After(u64),
    /// Only events published from now on.
    Now,
}

/// Why a follower stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Retention removed events this reader had not read yet.
    #[error("events after seq {after} were removed by retention; resume after seq {resume_after}")]
    Expired { after: u64, resume_after: u64 },
    #[error("the event bus closed")]
    Closed,
}

/// Counters shared by every follower, for tests and metrics.
#[derive(Debug, Default)]
pub struct FollowStats {
    fallbacks: AtomicU64,
}

impl FollowStats {
    /// How many times a reader fell behind the live ring and caught up from the log.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

/// One reader's position in the log.
pub struct Follower {
    store: Arc<dyn Store>,
    patterns: PatternSet,
    live: broadcast::Receiver<Arc<Event>>,
    /// Every event with `seq <= cursor` has been handed out or did not match.
    cursor: u64,
    catching_up: bool,
    /// Retention must be checked before the next catch-up (at start and after each lag).
    check_retention: bool,
    stats: Arc<FollowStats>,
}

impl Follower {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        live: broadcast::Receiver<Arc<Event>>,
        patterns: PatternSet,
        start: Start,
        stats: Arc<FollowStats>,
    ) -> Self {
        let (cursor, catching_up) = match start {
            Start::After(seq) => (seq, true),
            Start::Now => (store.head(), false),
        };
        Self {
            store,
            patterns,
            live,
            cursor,
            catching_up,
            check_retention: catching_up,
            stats,
        }
    }

    /// The `seq` after which the next events come.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The next events in `seq` order (at least one, at most [`MAX_BATCH`]), waiting for them.
    pub async fn next(&mut self) -> Result<Vec<Arc<Event>>, FollowError> {
        loop {
            if self.catching_up {
                if std::mem::take(&mut self.check_retention) {
                    self.ensure_retained().await?;
                }
                let page = self
                    .store
                    .read(&self.patterns, self.cursor, MAX_BATCH)
                    .await?;
                if page.len() < MAX_BATCH {
                    self.catching_up = false;
                }
                if let Some(last) = page.last() {
                    self.cursor = last.seq;
                    return Ok(page);
                }
            }
            match self.live.recv().await {
                Ok(event) => {
                    let mut batch = Vec::new();
                    self.take(event, &mut batch);
                    // Drain what is already queued, so busy streams write in larger chunks.
                    while batch.len() < MAX_BATCH {
                        match self.live.try_recv() {
                            Ok(event) => self.take(event, &mut batch),
                            Err(TryRecvError::Lagged(_)) => {
                                self.lagged();
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if !batch.is_empty() {
                        return Ok(batch);
                    }
                }
                Err(RecvError::Lagged(_)) => self.lagged(),
                Err(RecvError::Closed) => return Err(FollowError::Closed),
            }
        }
    }

    fn take(&mut self, event: Arc<Event>, batch: &mut Vec<Arc<Event>>) {
        if self.catching_up || event.seq <= self.cursor {
            return;
        }
        self.cursor = event.seq;
        if self.patterns.matches(&event.topic) {
            batch.push(event);
        }
    }

    fn lagged(&mut self) {
        self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.catching_up = true;
        self.check_retention = true;
    }

    async fn ensure_retained(&self) -> Result<(), FollowError> {
        let removed = self.store.removed_through(&self.patterns).await?;
        if removed > self.cursor && self.cursor > 0 {
            return Err(FollowError::Expired {
                after: self.cursor,
                resume_after: removed,
            });
        }
        Ok(())
    }
}
