//! Point-to-point queues: each message goes to exactly one consumer (round-robin among those
//! with room under their prefetch), stays until acknowledged, and goes back to the front of the
//! queue, marked redelivered, on NACK or when its consumer leaves without acknowledging it.
//!
//! The store holds every unacknowledged message, so queues survive a restart; this broker keeps
//! the working state (who holds what) in memory, so a queue is served by one node.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::store::StoreError;
use crate::store::queue::{NewQueueMessage, QueueStore, QueuedMessage};

/// How a consumer settles messages it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done with: deleted from the queue.
    Ack,
    /// Rejected: back to the front of the queue, marked redelivered.
    Nack,
}

/// Every queue on this node.
pub struct Queues {
    store: Arc<dyn QueueStore>,
    state: Mutex<HashMap<String, Queue>>,
    next_consumer: AtomicU64,
}

#[derive(Default)]
struct Queue {
    /// Waiting messages by row, so the oldest (and requeued ones, which keep their row) go first.
    ready: BTreeMap<u64, Arc<QueuedMessage>>,
    consumers: Vec<Consumer>,
    /// Where the round-robin looks first.
    turn: usize,
    /// Messages handed out and not yet settled: row → (consumer, message).
    held: HashMap<u64, (u64, Arc<QueuedMessage>)>,
}

struct Consumer {
    id: u64,
    prefetch: usize,
    holding: usize,
    tx: mpsc::UnboundedSender<Arc<QueuedMessage>>,
}

/// One consumer of one queue: messages arrive on `messages`; dropping it returns every message
/// it still holds to the queue, marked redelivered.
pub struct Subscription {
    queues: Arc<Queues>,
    pub queue: String,
    pub id: u64,
    pub messages: mpsc::UnboundedReceiver<Arc<QueuedMessage>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.queues.leave(&self.queue, self.id);
    }
}

impl Queues {
    /// Loads every stored message.
    pub async fn open(store: Arc<dyn QueueStore>) -> Result<Arc<Self>, StoreError> {
        let mut state: HashMap<String, Queue> = HashMap::new();
        for message in store.load_queues().await? {
            state
                .entry(message.queue.clone())
                .or_default()
                .ready
                .insert(message.row, Arc::new(message));
        }
        Ok(Arc::new(Self {
            store,
            state: Mutex::new(state),
            next_consumer: AtomicU64::new(1),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores messages (atomically, durably) and hands them to consumers.
    pub async fn send(&self, messages: Vec<NewQueueMessage>) -> Result<(), StoreError> {
        let stored = self.store.enqueue(messages).await?;
        {
            let mut state = self.lock();
            let mut touched = Vec::new();
            for message in stored {
                let queue = state.entry(message.queue.clone()).or_default();
                if !touched.contains(&message.queue) {
                    touched.push(message.queue.clone());
                }
                queue.ready.insert(message.row, Arc::new(message));
            }
            for name in touched {
                if let Some(queue) = state.get_mut(&name) {
                    queue.dispatch();
                }
            }
        }
        Ok(())
    }

    /// Adds a consumer that holds at most `prefetch` unsettled messages.
    pub fn subscribe(self: &Arc<Self>, queue: &str, prefetch: usize) -> Subscription {
        let (tx, messages) = mpsc::unbounded_channel();
        let id = self.next_consumer.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.lock();
            let q = state.entry(queue.to_owned()).or_default();
            q.consumers.push(Consumer {
                id,
                prefetch: prefetch.max(1),
                holding: 0,
                tx,
            });
            q.dispatch();
        }
        Subscription {
            queues: self.clone(),
            queue: queue.to_owned(),
            id,
            messages,
        }
    }

    /// Settles messages `consumer` holds. An ACK returns once the messages are deleted.
    pub async fn settle(
        &self,
        queue: &str,
        consumer: u64,
        rows: Vec<u64>,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        if outcome == Outcome::Ack {
            self.store.remove(rows.clone()).await?;
        }
        {
            let mut state = self.lock();
            let Some(q) = state.get_mut(queue) else {
                return Ok(());
            };
            for row in rows {
                let Some((holder, message)) = q.held.remove(&row) else {
                    continue;
                };
                if let Some(c) = q.consumers.iter_mut().find(|c| c.id == holder) {
                    c.holding = c.holding.saturating_sub(1);
                }
                if holder != consumer {
                    tracing::warn!(
                        row,
                        "a queue message was settled by a consumer that did not hold it"
                    );
                }
                if outcome == Outcome::Nack {
                    q.ready.insert(row, redelivered(&message));
                }
            }
            q.dispatch();
        }
        Ok(())
    }

    /// Removes a consumer and requeues what it held.
    fn leave(&self, queue: &str, consumer: u64) {
        {
            let mut state = self.lock();
            let Some(q) = state.get_mut(queue) else {
                return;
            };
            q.consumers.retain(|c| c.id != consumer);
            let rows: Vec<u64> = q
                .held
                .iter()
                .filter(|(_, (holder, _))| *holder == consumer)
                .map(|(row, _)| *row)
                .collect();
            for row in rows {
                if let Some((_, message)) = q.held.remove(&row) {
                    q.ready.insert(row, redelivered(&message));
                }
            }
            q.dispatch();
        }
    }

    /// Messages waiting (not held by any consumer) in `queue`.
    pub fn waiting(&self, queue: &str) -> usize {
        self.lock().get(queue).map_or(0, |q| q.ready.len())
    }

    /// Records durably that these messages are about to reach a client for the first time, so
    /// that after a crash they come back with `redelivered:true`. Consumers call it before
    /// writing, for all the messages they have at hand at once.
    pub async fn mark_delivered(&self, rows: Vec<u64>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.store.mark_delivered(rows).await
    }
}

impl Queue {
    /// Hands waiting messages to consumers with room, taking turns.
    fn dispatch(&mut self) {
        while !self.ready.is_empty() && !self.consumers.is_empty() {
            let n = self.consumers.len();
            let Some(at) = (0..n)
                .map(|i| (self.turn + i) % n)
                .find(|&i| self.consumers[i].holding < self.consumers[i].prefetch)
            else {
                return;
            };
            let Some((row, message)) = self.ready.pop_first() else {
                return;
            };
            let consumer = &mut self.consumers[at];
            if consumer.tx.send(message.clone()).is_err() {
                // Its subscription is being dropped; `leave` will remove it.
                self.ready.insert(row, message);
                consumer.prefetch = 0;
                continue;
            }
            consumer.holding += 1;
            self.held.insert(row, (consumer.id, message));
            self.turn = (at + 1) % n;
        }
    }
}

fn redelivered(message: &Arc<QueuedMessage>) -> Arc<QueuedMessage> {
    let mut copy = QueuedMessage::clone(message);
    copy.redelivered = true;
    Arc::new(copy)
}
