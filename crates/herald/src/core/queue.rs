//! Point-to-point queues: each message goes to exactly one consumer (round-robin among those
//! with room under their prefetch), stays until acknowledged, and goes back to the front of the
//! queue, marked redelivered, on NACK or when its consumer leaves without acknowledging it.
//!
//! The store holds every unacknowledged message, so queues survive a restart; this broker keeps
//! the working state (who holds what) in memory.
//!
//! On one node the broker loads every stored message at start. In a cluster
//! ([`Queues::open_shared`]) a queue's consumers may sit on different nodes: each node claims
//! from the shared store only as many messages as its own consumers have room for, under a lease
//! it renews while it runs ([`QueueLeases`]); what its consumers reject or leave behind goes back
//! to the store for any node to claim, and tells the other nodes so. A node that dies stops
//! renewing, and its messages become free again after [`LEASE`], marked redelivered if they had
//! reached a consumer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::StoreError;
use crate::store::queue::{NewQueueMessage, QueueLeases, QueueStore, QueuedMessage};

/// How long a node's claim on a message lasts without renewal: how soon the others take over
/// the messages of a node that died.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a node renews its leases.
const RENEW: Duration = Duration::from_secs(3);
/// How often a node looks for messages its consumers have room for, besides being told (a
/// missed notice, or a dead node's expired leases, cost at most this much delay).
const POLL: Duration = Duration::from_secs(1);
/// Most messages claimed in one statement.
const CLAIM_BATCH: usize = 500;

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
    /// In a cluster: how this node shares the queues with the others.
    shared: Option<Shared>,
}

/// A node's part in queues shared by a cluster.
struct Shared {
    leases: Arc<dyn QueueLeases>,
    /// This node's name on the leases it holds (new at every start).
    node: String,
    /// Work for the claimer task ([`Queues::claimer`]).
    work: mpsc::UnboundedSender<Work>,
    /// Tells every node (this one too) that a queue has free messages.
    announce: Box<dyn Fn(&str) + Send + Sync>,
}

/// What the claimer task does, one at a time.
enum Work {
    /// Claim what this node's consumers of the queue have room for.
    Claim(String),
    /// Give messages back to the store, then announce the queue.
    Release {
        queue: String,
        rows: Vec<u64>,
        handed_out: bool,
    },
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
    /// Loads every stored message: this node serves every queue alone.
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
            shared: None,
        }))
    }

    /// Queues shared with other nodes through `leases` (on the same store as `store`), named
    /// `node` on the leases it takes. `announce` must reach [`Queues::wake`] on every node,
    /// this one included.
    pub fn open_shared(
        store: Arc<dyn QueueStore>,
        leases: Arc<dyn QueueLeases>,
        node: String,
        announce: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Arc<Self> {
        let (work, rx) = mpsc::unbounded_channel();
        let queues = Arc::new(Self {
            store,
            state: Mutex::new(HashMap::new()),
            next_consumer: AtomicU64::new(1),
            shared: Some(Shared {
                leases,
                node,
                work,
                announce,
            }),
        });
        tokio::spawn(Self::claimer(Arc::downgrade(&queues), rx));
        queues
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores messages (atomically, durably) and hands them to consumers.
    pub async fn send(&self, messages: Vec<NewQueueMessage>) -> Result<(), StoreError> {
        let stored = self.store.enqueue(messages).await?;
        if let Some(shared) = &self.shared {
            let mut queues: Vec<&str> = stored.iter().map(|m| m.queue.as_str()).collect();
            queues.sort_unstable();
            queues.dedup();
            for queue in queues {
                (shared.announce)(queue);
            }
            return Ok(());
        }
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
        self.claim_later(queue);
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
        let mut nacked = Vec::new();
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
                    match &self.shared {
                        None => _ = q.ready.insert(row, redelivered(&message)),
                        Some(_) => nacked.push(row),
                    }
                }
            }
            q.dispatch();
        }
        if !nacked.is_empty() {
            self.release_later(queue, nacked, true);
        }
        self.claim_later(queue);
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
            if self.shared.is_some() {
                // Back to the store, for whichever node's consumers have room.
                for row in &rows {
                    q.held.remove(row);
                }
                let idle = q.orphans();
                drop(state);
                self.release_later(queue, rows, true);
                self.release_later(queue, idle, false);
                return;
            }
            for row in rows {
                if let Some((_, message)) = q.held.remove(&row) {
                    q.ready.insert(row, redelivered(&message));
                }
            }
            q.dispatch();
        }
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

    /// Tells this node that `queue` may have free messages in the shared store (called for
    /// every notice the cluster relays).
    pub fn wake(&self, queue: &str) {
        let has_consumers = self
            .lock()
            .get(queue)
            .is_some_and(|q| !q.consumers.is_empty());
        if has_consumers {
            self.claim_later(queue);
        }
    }

    /// Frees every message this node holds, for the other nodes to claim (at shutdown).
    pub async fn close(&self) {
        if let Some(shared) = &self.shared
            && let Err(e) = shared.leases.release_all(&shared.node).await
        {
            tracing::warn!(error = %e, "could not free this node's queue messages; they return when the lease expires");
        }
    }

    fn claim_later(&self, queue: &str) {
        if let Some(shared) = &self.shared {
            let _ = shared.work.send(Work::Claim(queue.to_owned()));
        }
    }

    fn release_later(&self, queue: &str, rows: Vec<u64>, handed_out: bool) {
        if let (Some(shared), false) = (&self.shared, rows.is_empty()) {
            let _ = shared.work.send(Work::Release {
                queue: queue.to_owned(),
                rows,
                handed_out,
            });
        }
    }

    /// In a cluster: claims messages as consumers have room, gives back what they release,
    /// renews this node's leases, and polls; until the queues are dropped.
    async fn claimer(queues: Weak<Self>, mut work: mpsc::UnboundedReceiver<Work>) {
        let mut renew = tokio::time::interval(RENEW);
        let mut poll = tokio::time::interval(POLL);
        loop {
            let next = tokio::select! {
                next = work.recv() => next,
                _ = renew.tick() => {
                    let Some(queues) = queues.upgrade() else { return };
                    queues.renew().await;
                    continue;
                }
                _ = poll.tick() => {
                    let Some(queues) = queues.upgrade() else { return };
                    let names: Vec<String> = queues.lock().keys().cloned().collect();
                    for name in names {
                        queues.claim(&name).await;
                    }
                    continue;
                }
            };
            let (Some(next), Some(queues)) = (next, queues.upgrade()) else {
                return;
            };
            // Take everything already asked for: releases go first, and a queue asked to claim
            // many times (a SEND, an ACK each) is claimed for once.
            let mut claims = std::collections::BTreeSet::new();
            let mut first = Some(next);
            while let Some(item) = first.take().or_else(|| work.try_recv().ok()) {
                match item {
                    Work::Claim(queue) => _ = claims.insert(queue),
                    Work::Release {
                        queue,
                        rows,
                        handed_out,
                    } => queues.release(&queue, rows, handed_out).await,
                }
            }
            for queue in claims {
                queues.claim(&queue).await;
            }
        }
    }

    /// Claims from the store as many messages of `queue` as this node's consumers have room for
    /// (beyond what it already holds ready), and hands them out.
    async fn claim(&self, queue: &str) {
        let Some(shared) = &self.shared else { return };
        loop {
            let room = self.lock().get(queue).map_or(0, Queue::room);
            if room == 0 {
                return;
            }
            let limit = room.min(CLAIM_BATCH);
            let claimed = match shared.leases.claim(queue, &shared.node, limit, LEASE).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(queue, error = %e, "could not claim queue messages");
                    return;
                }
            };
            let got = claimed.len();
            let orphans: Vec<u64> = {
                let mut state = self.lock();
                let q = state.entry(queue.to_owned()).or_default();
                for message in claimed {
                    q.ready.insert(message.row, Arc::new(message));
                }
                q.dispatch();
                // Every consumer left while the claim ran: give the messages back.
                q.orphans()
            };
            if !orphans.is_empty() {
                self.release(queue, orphans, false).await;
                return;
            }
            if got < limit {
                return;
            }
        }
    }

    /// Gives messages back to the store and tells every node they are free.
    async fn release(&self, queue: &str, rows: Vec<u64>, handed_out: bool) {
        let Some(shared) = &self.shared else { return };
        match shared.leases.release(&shared.node, rows, handed_out).await {
            Ok(()) => (shared.announce)(queue),
            Err(e) => {
                tracing::warn!(queue, error = %e, "could not free queue messages; they return when the lease expires");
            }
        }
    }

    async fn renew(&self) {
        let Some(shared) = &self.shared else { return };
        if let Err(e) = shared.leases.renew(&shared.node, LEASE).await {
            tracing::warn!(error = %e, "could not renew this node's queue leases");
        }
    }
}

impl Queue {
    /// How many more messages the consumers could take than are waiting here.
    fn room(&self) -> usize {
        let free: usize = self
            .consumers
            .iter()
            .map(|c| c.prefetch.saturating_sub(c.holding))
            .sum();
        free.saturating_sub(self.ready.len())
    }

    /// With no consumer left, takes the waiting messages (a cluster node gives them back).
    fn orphans(&mut self) -> Vec<u64> {
        if self.consumers.is_empty() {
            std::mem::take(&mut self.ready).into_keys().collect()
        } else {
            Vec::new()
        }
    }

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
