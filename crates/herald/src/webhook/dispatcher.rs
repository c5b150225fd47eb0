//! The dispatcher: starts one worker per subscription and routes API requests to them.

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
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Dispatcher {
    /// Starts a worker for every stored subscription; they resume pending deliveries at once.
    pub async fn start(
        log: Arc<Log>,
        store: Arc<dyn WebhookStore>,
        sender: Sender,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let dispatcher = Arc::new(Self {
            log,
            store: store.clone(),
            sender,
            settings,
            workers: Mutex::default(),
            tasks: TaskTracker::new(),
            shutdown,
        });
        for sub in store.subscriptions().await? {
            dispatcher.spawn(sub).await?;
        }
        Ok(dispatcher)
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

    /// Stores a new subscription and starts its worker.
    pub async fn create(&self, sub: Subscription) -> Result<(), StoreError> {
        self.store.insert_subscription(&sub).await?;
        self.spawn(sub).await
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
