//! One subscription's worker: turns matching events into recorded deliveries, sends them within
//! the subscription's limits, and schedules retries. Each subscription has its own worker, so a
//! slow or dead endpoint only ever holds back its own queue.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::{Attempt, Delivery, State, Status, Subscription, new_id};
use super::retry::{next_delay, random_jitter};
use super::sender::{Outcome, Sender};
use crate::core::event::{Event, NewEvent, Payload, json_array, now_ms};
use crate::core::follow::{FollowError, Follower, Start};
use crate::core::log::Log;
use crate::core::topic::{PatternSet, Topic};
use crate::store::StoreError;
use crate::store::webhooks::WebhookStore;

/// Open deliveries a worker holds in memory before it stops reading the log for a while.
const MAX_QUEUE: usize = 10_000;
/// Topic announcing deliveries that ran out of attempts.
pub const DEAD_TOPIC: &str = "herald.delivery.dead";
/// Topic announcing subscriptions disabled by Herald.
pub const DISABLED_TOPIC: &str = "herald.subscription.disabled";

/// Why a request to a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Invalid(String),
    #[error("the subscription no longer exists")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change to apply to a subscription; it may refuse with a message for the client.
pub type Change = Box<dyn FnOnce(&mut Subscription) -> Result<(), String> + Send>;

/// Requests the API sends to a worker, which alone writes its subscription's state.
pub enum Control {
    Update(Change, oneshot::Sender<Result<Subscription, ControlError>>),
    RetryNow(Delivery, oneshot::Sender<Result<Delivery, ControlError>>),
    Replay(u64, oneshot::Sender<Result<(), ControlError>>),
    Stop(oneshot::Sender<()>),
}

/// Settings shared by every worker.
#[derive(Clone)]
pub struct Settings {
    pub disable_after: Duration,
    pub metrics: Arc<crate::metrics::Metrics>,
}

type Finished = (String, Attempt, Outcome, bool);

pub(super) struct Worker {
    sub: Subscription,
    log: Arc<Log>,
    store: Arc<dyn WebhookStore>,
    sender: Sender,
    settings: Settings,
    follower: Follower,
    queue: VecDeque<Delivery>,
    in_flight: HashSet<String>,
    attempts: JoinSet<Finished>,
    batch: Vec<Arc<Event>>,
    batch_deadline: Option<Instant>,
    next_send: Option<Instant>,
    /// This subscription's series of `herald_webhook_queue_depth` and
    /// `herald_webhook_oldest_pending_seconds`, looked up once.
    depth: Gauge,
    oldest: Gauge,
}

impl Worker {
    pub(super) async fn start(
        sub: Subscription,
        log: Arc<Log>,
        store: Arc<dyn WebhookStore>,
        sender: Sender,
        settings: Settings,
    ) -> Result<Self, StoreError> {
        let queue = store.open_deliveries(&sub.id).await?.into();
        let follower = log.follow(patterns(&sub), Start::After(sub.cursor));
        let labels = vec![("subscription", sub.id.clone())];
        let depth = settings.metrics.queue_depth.get_or_create(&labels).clone();
        let oldest = settings
            .metrics
            .oldest_pending
            .get_or_create(&labels)
            .clone();
        Ok(Self {
            depth,
            oldest,
            sub,
            log,
            store,
            sender,
            settings,
            follower,
            queue,
            in_flight: HashSet::new(),
            attempts: JoinSet::new(),
            batch: Vec::new(),
            batch_deadline: None,
            next_send: None,
        })
    }

    pub(super) async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        shutdown: CancellationToken,
    ) {
        loop {
            self.dispatch();
            self.report();
            let wake = self.next_wake();
            let can_read = self.sub.state == State::Enabled && self.queue.len() < MAX_QUEUE;
            tokio::select! {
                () = shutdown.cancelled() => return,
                message = control.recv() => match message {
                    Some(Control::Stop(reply)) => {
                        // The subscription is going away: so do its series.
                        let labels = vec![("subscription", self.sub.id.clone())];
                        self.settings.metrics.queue_depth.remove(&labels);
                        self.settings.metrics.oldest_pending.remove(&labels);
                        let _ = reply.send(());
                        return;
                    }
                    Some(message) => self.control(message).await,
                    None => return,
                },
                Some(done) = self.attempts.join_next(), if !self.attempts.is_empty() => {
                    if let Ok(done) = done {
                        self.finish(done).await;
                    }
                }
                next = self.follower.next(), if can_read => self.ingest(next).await,
                () = sleep_until(wake), if wake.is_some() => {}
            }
            if self.batch_deadline.is_some_and(|d| d <= Instant::now()) {
                self.flush_batch(self.batch.len()).await;
            }
        }
    }

    /// Starts every attempt the subscription's limits allow now.
    /// Publishes this subscription's queue depth and oldest pending age. The queue is in id
    /// order, and ids grow with time, so the oldest is at the front.
    fn report(&self) {
        self.depth.set(self.queue.len() as i64);
        let oldest = self.queue.front().map(|d| d.created_ms);
        let age = oldest.map_or(0, |t| (now_ms() - t).max(0) / 1000);
        self.oldest.set(age);
    }

    /// Attempts that may run at once: one for an ordered subscription.
    fn slots(&self) -> usize {
        if self.sub.spec.ordered {
            1
        } else {
            self.sub.spec.max_in_flight as usize
        }
    }

    fn dispatch(&mut self) {
        if self.sub.state != State::Enabled {
            return;
        }
        let now = now_ms();
        let max = self.slots();
        for i in 0..self.queue.len() {
            if self.in_flight.len() >= max || (self.sub.spec.ordered && i > 0) {
                break;
            }
            let delivery = &self.queue[i];
            if self.in_flight.contains(&delivery.id) || delivery.next_attempt_ms.unwrap_or(0) > now
            {
                continue;
            }
            if self.next_send.is_some_and(|t| Instant::now() < t) {
                break;
            }
            if let Some(rate) = self.sub.spec.rate_limit {
                self.next_send = Some(Instant::now() + Duration::from_secs_f64(1.0 / rate));
            }
            let delivery = delivery.clone();
            self.in_flight.insert(delivery.id.clone());
            let (sub, sender, store) = (
                self.sub.clone(),
                self.sender.clone(),
                self.log.store().clone(),
            );
            self.attempts.spawn(async move {
                let at = now_ms();
                let events = match store.events_at(&delivery.event_seqs).await {
                    Ok(events) if events.len() == delivery.event_seqs.len() => events,
                    Ok(_) => {
                        let attempt = failed_attempt(
                            at,
                            "the event was removed by retention before it could be delivered",
                        );
                        return (delivery.id, attempt, Outcome::Unsendable, true);
                    }
                    Err(e) => {
                        let attempt = failed_attempt(at, &format!("cannot read the event: {e}"));
                        return (
                            delivery.id,
                            attempt,
                            Outcome::Failure { retry_after: None },
                            false,
                        );
                    }
                };
                let notices_only = events.iter().all(|e| e.topic == DEAD_TOPIC);
                let body = body(&events, delivery.batch);
                let (attempt, outcome) = sender.send(&sub, &delivery.msg_id, body, at).await;
                (delivery.id, attempt, outcome, notices_only)
            });
        }
    }

    /// When something next needs doing without outside input: the earliest moment a waiting
    /// delivery may start. With every slot taken, a finishing attempt wakes the worker instead.
    fn next_wake(&self) -> Option<Instant> {
        let mut wake = self.batch_deadline;
        let mut consider = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if self.sub.state != State::Enabled || self.in_flight.len() >= self.slots() {
            return wake;
        }
        let (now, now_ms) = (Instant::now(), now_ms());
        let waiting = self
            .queue
            .iter()
            .filter(|d| !self.in_flight.contains(&d.id));
        let mut earliest: Option<i64> = None;
        for d in waiting.take(if self.sub.spec.ordered { 1 } else { usize::MAX }) {
            let due = d.next_attempt_ms.unwrap_or(0);
            earliest = Some(earliest.map_or(due, |e| e.min(due)));
            if due <= now_ms {
                break; // nothing can be due sooner than now
            }
        }
        if let Some(due) = earliest {
            let at = now + Duration::from_millis(due.saturating_sub(now_ms).max(0) as u64);
            consider(self.next_send.map_or(at, |t| t.max(at)));
        }
        wake
    }

    async fn ingest(&mut self, next: Result<Vec<Arc<Event>>, FollowError>) {
        let events = match next {
            Ok(events) => events,
            Err(FollowError::Expired { resume_after, .. }) => {
                tracing::warn!(subscription = %self.sub.id, resume_after, "events expired before delivery; skipping ahead");
                self.follower = self
                    .log
                    .follow(patterns(&self.sub), Start::After(resume_after));
                return;
            }
            Err(e) => {
                tracing::warn!(subscription = %self.sub.id, error = %e, "reading the log failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.restart_follower();
                return;
            }
        };
        let types = &self.sub.spec.types;
        let wanted = events
            .into_iter()
            .filter(|e| types.is_empty() || types.contains(&e.event_type));
        match self.sub.spec.batch {
            None => {
                let deliveries: Vec<Delivery> =
                    wanted.map(|e| self.new_delivery(&[e], false)).collect();
                self.persist(deliveries, self.follower.cursor()).await;
            }
            Some(batch) => {
                self.batch.extend(wanted);
                let size = batch.max_events as usize;
                while self.batch.len() >= size {
                    self.flush_batch(size).await;
                }
                if !self.batch.is_empty() && self.batch_deadline.is_none() {
                    self.batch_deadline =
                        Some(Instant::now() + Duration::from_millis(batch.max_wait_ms));
                }
            }
        }
    }

    /// Records the first `n` batched events as one delivery.
    async fn flush_batch(&mut self, n: usize) {
        self.batch_deadline = None;
        if n == 0 {
            return;
        }
        let events: Vec<Arc<Event>> = self.batch.drain(..n).collect();
        // The cursor may only pass events that are now recorded.
        let cursor = match self.batch.first() {
            Some(next) => next.seq - 1,
            None => self.follower.cursor(),
        };
        let delivery = self.new_delivery(&events, true);
        self.persist(vec![delivery], cursor).await;
        if !self.batch.is_empty() {
            let wait = self.sub.spec.batch.map_or(0, |b| b.max_wait_ms);
            self.batch_deadline = Some(Instant::now() + Duration::from_millis(wait));
        }
    }

    fn new_delivery(&self, events: &[Arc<Event>], batch: bool) -> Delivery {
        let id = new_id("dlv");
        let now = now_ms();
        Delivery {
            msg_id: if batch {
                id.clone()
            } else {
                events[0].id.clone()
            },
            id,
            subscription_id: self.sub.id.clone(),
            event_seqs: events.iter().map(|e| e.seq).collect(),
            event_ids: events.iter().map(|e| e.id.clone()).collect(),
            batch,
            status: Status::Pending,
            attempts: Vec::new(),
            next_attempt_ms: Some(now),
            created_ms: now,
        }
    }

    /// Stores deliveries with the new cursor; on failure, rereads the log from the stored cursor.
    async fn persist(&mut self, deliveries: Vec<Delivery>, cursor: u64) {
        if deliveries.is_empty() {
            return;
        }
        match self.store.enqueue(&self.sub.id, cursor, &deliveries).await {
            Ok(()) => {
                self.sub.cursor = cursor;
                self.queue.extend(deliveries);
            }
            Err(e) => {
                tracing::error!(subscription = %self.sub.id, error = %e, "cannot record deliveries; will reread the log");
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.restart_follower();
            }
        }
    }

    fn restart_follower(&mut self) {
        self.batch.clear();
        self.batch_deadline = None;
        self.follower = self
            .log
            .follow(patterns(&self.sub), Start::After(self.sub.cursor));
    }

    /// Records an attempt's result and decides what comes next for the delivery.
    async fn finish(&mut self, (id, attempt, outcome, notices_only): Finished) {
        self.in_flight.remove(&id);
        let Some(index) = self.queue.iter().position(|d| d.id == id) else {
            return;
        };
        let metrics = &self.settings.metrics;
        let outcome_name = match outcome {
            Outcome::Success => "succeeded",
            Outcome::Failure { .. } => "failed",
            Outcome::Gone => "gone",
            Outcome::Unsendable => "unsendable",
        };
        metrics
            .attempts
            .get_or_create(&vec![("outcome", outcome_name.to_owned())])
            .inc();
        metrics
            .attempt_seconds
            .observe(attempt.latency_ms as f64 / 1000.0);
        let now = now_ms();
        let delivery = &mut self.queue[index];
        delivery.attempts.push(attempt);
        let mut disable = None;
        match outcome {
            Outcome::Success => {
                delivery.status = Status::Succeeded;
                delivery.next_attempt_ms = None;
            }
            Outcome::Unsendable => {
                delivery.status = Status::Dead;
                delivery.next_attempt_ms = None;
            }
            Outcome::Gone => {
                // Kept for when the subscription is enabled again.
                delivery.status = Status::Retrying;
                delivery.next_attempt_ms = Some(now);
                disable = Some("the endpoint answered 410 Gone".to_owned());
            }
            Outcome::Failure { retry_after } => {
                match next_delay(
                    &self.sub.spec.retry_schedule_std(),
                    delivery.attempts.len(),
                    retry_after,
                    random_jitter(),
                ) {
                    Some(delay) => {
                        delivery.status = Status::Retrying;
                        delivery.next_attempt_ms = Some(now + delay.as_millis() as i64);
                    }
                    None => {
                        delivery.status = Status::Dead;
                        delivery.next_attempt_ms = None;
                    }
                }
            }
        }
        let delivery = delivery.clone();
        // The notice goes into the log before the delivery is recorded dead, so whoever sees
        // `dead` finds the notice too, and a crash between the two cannot lose it (the notice's
        // id makes publishing it again after a restart harmless).
        if delivery.status == Status::Dead && !notices_only {
            self.announce_dead(&delivery).await;
        }
        if let Err(e) = self.store.save_delivery(&delivery).await {
            tracing::error!(delivery = %delivery.id, error = %e, "cannot record the attempt");
        }
        if !delivery.status.is_open() {
            self.queue.remove(index);
        }
        if delivery.status == Status::Dead {
            self.settings.metrics.dead.inc();
        }
        self.track_health(outcome == Outcome::Success, now, disable)
            .await;
    }

    /// Keeps `failing_since` and disables a subscription failing for too long or gone.
    async fn track_health(&mut self, success: bool, now: i64, mut disable: Option<String>) {
        let before = (self.sub.failing_since_ms, self.sub.state);
        if success {
            self.sub.failing_since_ms = None;
        } else {
            let since = *self.sub.failing_since_ms.get_or_insert(now);
            if disable.is_none() && now - since >= self.settings.disable_after.as_millis() as i64 {
                disable = Some(format!(
                    "every attempt failed since {}",
                    crate::core::event::format_time(since)
                ));
            }
        }
        if let Some(reason) = &disable {
            self.sub.state = State::Disabled;
            self.sub.disabled_reason = Some(reason.clone());
            tracing::warn!(subscription = %self.sub.id, reason, "subscription disabled");
        }
        // As with dead deliveries, the notice is in the log before the state is.
        if let Some(reason) = disable {
            let data = serde_json::json!({ "subscription_id": self.sub.id, "url": self.sub.spec.url, "reason": reason });
            self.announce(DISABLED_TOPIC, data, None).await;
        }
        if before != (self.sub.failing_since_ms, self.sub.state)
            && let Err(e) = self.store.save_subscription(&self.sub).await
        {
            tracing::error!(subscription = %self.sub.id, error = %e, "cannot save the subscription");
        }
    }

    async fn announce_dead(&self, delivery: &Delivery) {
        let data = serde_json::json!({
            "subscription_id": delivery.subscription_id,
            "delivery_id": delivery.id,
            "event_ids": delivery.event_ids,
            "attempts": delivery.attempts.len(),
            "last_error": delivery.attempts.last().and_then(|a| a.error.clone()),
        });
        // The id makes the announcement idempotent per delivery and attempt count.
        let id = format!("{}-{}", delivery.id, delivery.attempts.len());
        self.announce(DEAD_TOPIC, data, Some(id)).await;
    }

    async fn announce(&self, topic: &str, data: serde_json::Value, id: Option<String>) {
        let event = NewEvent {
            topic: Topic::parse(topic).expect("system topics are valid"),
            id,
            event_type: None,
            payload: Payload::Json(data.to_string()),
            headers: Vec::new(),
        };
        if let Err(e) = self.log.publish(vec![event]).await {
            tracing::error!(topic, error = %e, "cannot publish a system event");
        }
    }

    async fn control(&mut self, message: Control) {
        match message {
            Control::Update(change, reply) => {
                let _ = reply.send(self.update(change).await);
            }
            Control::RetryNow(delivery, reply) => {
                let _ = reply.send(self.retry_now(delivery).await);
            }
            Control::Replay(after, reply) => {
                let cursor = after.min(self.sub.cursor);
                let result = self
                    .store
                    .set_cursor(&self.sub.id, cursor)
                    .await
                    .map_err(ControlError::from);
                if result.is_ok() {
                    self.sub.cursor = cursor;
                    self.restart_follower();
                }
                let _ = reply.send(result);
            }
            Control::Stop(reply) => {
                let _ = reply.send(());
            }
        }
    }

    async fn update(&mut self, change: Change) -> Result<Subscription, ControlError> {
        let mut next = self.sub.clone();
        change(&mut next).map_err(ControlError::Invalid)?;
        if next.state == State::Enabled && self.sub.state == State::Disabled {
            next.disabled_reason = None;
            next.failing_since_ms = None;
        }
        if !self.store.save_subscription(&next).await? {
            return Err(ControlError::Gone);
        }
        let topics_changed = next.spec.topics != self.sub.spec.topics;
        self.sub = next;
        if topics_changed {
            self.restart_follower();
        }
        Ok(self.sub.clone())
    }

    async fn retry_now(&mut self, delivery: Delivery) -> Result<Delivery, ControlError> {
        let now = now_ms();
        if let Some(open) = self.queue.iter_mut().find(|d| d.id == delivery.id) {
            open.next_attempt_ms = Some(now);
            return Ok(open.clone());
        }
        let mut delivery = delivery;
        delivery.status = Status::Retrying;
        delivery.next_attempt_ms = Some(now);
        self.store.save_delivery(&delivery).await?;
        let at = self
            .queue
            .iter()
            .position(|d| d.id > delivery.id)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, delivery.clone());
        Ok(delivery)
    }
}

fn patterns(sub: &Subscription) -> PatternSet {
    PatternSet::parse(&sub.spec.topics)
        .ok()
        .flatten()
        .expect("subscription patterns are validated at creation")
}

fn failed_attempt(at_ms: i64, error: &str) -> Attempt {
    Attempt {
        at_ms,
        status_code: None,
        latency_ms: 0,
        error: Some(error.to_owned()),
        response_excerpt: None,
        request_headers: Vec::new(),
    }
}

/// A delivery's request body: the event JSON, or the array of a batch's events.
pub fn body(events: &[Arc<Event>], batch: bool) -> bytes::Bytes {
    if batch {
        json_array(events)
    } else {
        events[0].json()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
