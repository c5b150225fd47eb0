//! The dispatcher: starts one worker per subscription and routes API requests to them.
//!
//! On a single node it is active from the start. In a cluster only the leader's dispatcher is
//! active (see `cluster.rs`): it starts every worker when its node becomes leader and stops them
//! all when the node stops leading, so each subscription has one worker cluster-wide and its
//! ordering, rate and concurrency limits hold across nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::model::{Delivery, Subscription};
use super::sender::Sender;
use super::worker::{Change, Control, ControlError, Settings, Worker};
use crate::core::log::Log;
use crate::store::StoreError;
use crate::store::webhooks::WebhookStore;

/// Every subscription's worker.
pub struct Dispatcher {
    log: Arc<Log>,
    store: Arc<dyn WebhookStore>,
    sender: Sender,
    settings: Settings,
    workers: Mutex<HashMap<String, mpsc::Sender<Control>>>,
    /// Whether this node runs the workers (always on a single node; the leader in a cluster).
    active: tokio::sync::Mutex<bool>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Dispatcher {
    /// A dispatcher that runs no worker until [`Dispatcher::activate`].
    pub fn new(
        log: Arc<Log>,
        store: Arc<dyn WebhookStore>,
        sender: Sender,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            log,
            store,
            sender,
            settings,
            workers: Mutex::default(),
            active: tokio::sync::Mutex::new(false),
            tasks: TaskTracker::new(),
            shutdown,
        })
    }

    /// Starts a worker for every stored subscription; they resume pending deliveries at once.
    pub async fn activate(&self) -> Result<(), StoreError> {
        let mut active = self.active.lock().await;
        if *active {
            return Ok(());
        }
        for sub in self.store.subscriptions().await? {
            self.spawn(sub).await?;
        }
        *active = true;
        Ok(())
    }

    /// Stops every worker (what they had in flight is retried by whoever runs them next).
    pub async fn deactivate(&self) {
        let mut active = self.active.lock().await;
        let workers: Vec<_> = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, worker)| worker)
            .collect();
        for worker in workers {
            let (tx, rx) = oneshot::channel();
            if worker.send(Control::Stop(tx)).await.is_ok() {
                let _ = rx.await;
            }
        }
        *active = false;
    }

    /// The webhook store (for reads that need no worker).
    pub fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    /// The HTTP sender (for its SSRF guard).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    async fn spawn(&self, sub: Subscription) -> Result<(), StoreError> {
        let id = sub.id.clone();
        let worker = Worker::start(
            sub,
            self.log.clone(),
            self.store.clone(),
            self.sender.clone(),
            self.settings.clone(),
        )
        .await?;
        let (tx, rx) = mpsc::channel(16);
        self.tasks.spawn(worker.run(rx, self.shutdown.clone()));
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        Ok(())
    }

    /// Stores a new subscription and starts its worker (if this node runs the workers).
    pub async fn create(&self, sub: Subscription) -> Result<(), StoreError> {
        let active = self.active.lock().await;
        self.store.insert_subscription(&sub).await?;
        if *active {
            self.spawn(sub).await?;
        }
        Ok(())
    }

    async fn ask<T>(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<Result<T, ControlError>>) -> Control,
    ) -> Result<T, ControlError> {
        let worker = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        let Some(worker) = worker else {
            return Err(ControlError::Gone);
        };
        let (tx, rx) = oneshot::channel();
        worker
            .send(make(tx))
            .await
            .map_err(|_| ControlError::Gone)?;
        rx.await.map_err(|_| ControlError::Gone)?
    }

    /// Applies a change through the subscription's worker, which saves it.
    pub async fn update(&self, id: &str, change: Change) -> Result<Subscription, ControlError> {
        self.ask(id, |tx| Control::Update(change, tx)).await
    }

    /// Schedules a delivery for an immediate attempt, whatever its state.
    pub async fn retry(&self, delivery: Delivery) -> Result<Delivery, ControlError> {
        let id = delivery.subscription_id.clone();
        self.ask(&id, |tx| Control::RetryNow(delivery, tx)).await
    }

    /// Delivers again every matching event after `after`.
    pub async fn replay(&self, id: &str, after: u64) -> Result<(), ControlError> {
        self.ask(id, |tx| Control::Replay(after, tx)).await
    }

    /// Stops the worker and deletes the subscription with its deliveries.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let worker = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some(worker) = worker {
            let (tx, rx) = oneshot::channel();
            if worker.send(Control::Stop(tx)).await.is_ok() {
                let _ = rx.await;
            }
        }
        self.store.delete_subscription(id).await
    }

    /// Waits for every worker to stop (after the shutdown token fired).
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}
