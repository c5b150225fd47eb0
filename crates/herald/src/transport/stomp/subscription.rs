//! One subscription: for `/topic/<pattern>` a task that turns its follower's events into
//! MESSAGE frames, holding back when the client has too many unacknowledged ones; for
//! `/queue/<name>` a task that writes what the queue hands its consumer.

use prometheus_client::metrics::counter::Counter;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use herald_codec::stomp::{Frame, Version, encode};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::frames;
use crate::core::follow::{FollowError, Follower};
use crate::core::queue::{self, Outcome, Queues};

/// How a subscription's messages are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckMode {
    /// Sending a message acknowledges it.
    Auto,
    /// ACK acknowledges the message and every earlier one of the subscription.
    Client,
    /// ACK acknowledges just that message.
    ClientIndividual,
}

impl AckMode {
    pub(crate) fn parse(text: Option<&str>) -> Option<AckMode> {
        match text {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A message sent but not yet acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Unacked {
    ack: u64,
    message_id: String,
    /// The queue message's row (0 on a topic).
    pub row: u64,
}

/// What a session and its subscription task share.
pub(crate) struct Subscription {
    pub id: String,
    pub mode: AckMode,
    /// Most unacknowledged messages before delivery waits (client modes only).
    pub prefetch: usize,
    unacked: Mutex<VecDeque<Unacked>>,
    space: Notify,
    /// Cancelled by UNSUBSCRIBE or when the connection ends.
    pub cancel: CancellationToken,
    /// For a `/queue` subscription: the queue and this consumer's id there.
    pub queue: Option<(String, u64)>,
}

/// Which message an ACK or NACK names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AckKey {
    /// STOMP 1.2: the MESSAGE's `ack` header.
    Ack(u64),
    /// STOMP 1.0 and 1.1: the MESSAGE's `message-id`.
    MessageId(String),
}

impl Subscription {
    pub(crate) fn new(
        id: String,
        mode: AckMode,
        prefetch: usize,
        cancel: CancellationToken,
        queue: Option<(String, u64)>,
    ) -> Self {
        Self {
            id,
            mode,
            prefetch,
            unacked: Mutex::new(VecDeque::new()),
            space: Notify::new(),
            cancel,
            queue,
        }
    }

    /// Settles the message `key` names (and, in `client` mode, every earlier one); returns what
    /// it settled, nothing if this subscription has no such unacknowledged message.
    pub(crate) fn settle(&self, key: &AckKey) -> Vec<Unacked> {
        let mut unacked = self.unacked.lock().unwrap_or_else(|e| e.into_inner());
        let found = unacked.iter().position(|u| match key {
            AckKey::Ack(n) => u.ack == *n,
            AckKey::MessageId(id) => &u.message_id == id,
        });
        let Some(at) = found else {
            return Vec::new();
        };
        let settled: Vec<Unacked> = match self.mode {
            AckMode::Client => unacked.drain(..=at).collect(),
            _ => unacked.remove(at).into_iter().collect(),
        };
        drop(unacked);
        self.space.notify_one();
        settled
    }

    /// Whether `key` names one of this subscription's unacknowledged messages.
    pub(crate) fn holds(&self, key: &AckKey) -> bool {
        let unacked = self.unacked.lock().unwrap_or_else(|e| e.into_inner());
        unacked.iter().any(|u| match key {
            AckKey::Ack(n) => u.ack == *n,
            AckKey::MessageId(id) => &u.message_id == id,
        })
    }

    fn unacked_len(&self) -> usize {
        self.unacked.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn push(&self, ack: u64, message_id: String, row: u64) {
        self.unacked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Unacked {
                ack,
                message_id,
                row,
            });
    }

    /// Waits until fewer than `prefetch` messages are unacknowledged; `false` if cancelled.
    async fn wait_for_room(&self) -> bool {
        while self.unacked_len() >= self.prefetch {
            tokio::select! {
                () = self.cancel.cancelled() => return false,
                () = self.space.notified() => {}
            }
        }
        true
    }
}

/// Most queue messages a consumer records as delivered in one write.
const MAX_QUEUE_BATCH: usize = 256;

/// Delivers the follower's events until the subscription is cancelled. A follower error (such
/// as retention overtaking it) ends the whole connection with an ERROR the client can act on.
pub(crate) async fn pump(
    sub: Arc<Subscription>,
    mut follower: Follower,
    version: Version,
    out: mpsc::Sender<Bytes>,
    acks: Arc<AtomicU64>,
    connection: CancellationToken,
    sent_counter: Counter,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = sub.cancel.cancelled() => return,
            next = follower.next() => next,
        };
        let events = match next {
            Ok(events) => events,
            Err(e) => {
                if !matches!(e, FollowError::Expired { .. }) {
                    tracing::warn!(error = %e, "STOMP subscription ended");
                }
                let mut bytes = bytes::BytesMut::new();
                let frame = Frame::error("subscription ended", &e.to_string())
                    .with_header("subscription", sub.id.as_str());
                encode(&frame, version, &mut bytes);
                let _ = out.send(bytes.freeze()).await;
                connection.cancel();
                return;
            }
        };
        if sub.mode == AckMode::Auto {
            // Room for the whole batch is waited for once, not frame by frame.
            let mut events = events.into_iter();
            while events.len() > 0 {
                let room = events.len().min(out.max_capacity());
                let permits = tokio::select! {
                    biased;
                    () = sub.cancel.cancelled() => return,
                    permits = out.reserve_many(room) => match permits {
                        Ok(permits) => permits,
                        Err(_) => return,
                    },
                };
                for (permit, event) in permits.zip(&mut events) {
                    permit.send(frames::message(&event, &sub.id, None, version));
                }
                sent_counter.inc_by(room as u64);
            }
            continue;
        }
        // Client acknowledgement: each message waits for room under `prefetch`.
        for event in events {
            if !sub.wait_for_room().await {
                return;
            }
            let n = acks.fetch_add(1, Ordering::Relaxed);
            sub.push(n, event.id.clone(), 0);
            // STOMP 1.2 names the message to ACK by the `ack` header; older versions by
            // `message-id`, so only 1.2 frames carry `ack`.
            let ack = Some(n.to_string()).filter(|_| version == Version::V1_2);
            let frame = frames::message(&event, &sub.id, ack.as_deref(), version);
            tokio::select! {
                biased;
                () = sub.cancel.cancelled() => return,
                sent = out.send(frame) => if sent.is_err() { return },
            }
            sent_counter.inc();
        }
    }
}

/// Writes what the queue hands this consumer. The queue enforces `prefetch`; in `auto` mode a
/// message is settled once it is on its way to the client. When the task ends, dropping the
/// consumer returns whatever it still holds to the queue, marked redelivered.
pub(crate) async fn pump_queue(
    sub: Arc<Subscription>,
    mut consumer: queue::Subscription,
    queues: Arc<Queues>,
    version: Version,
    out: mpsc::Sender<Bytes>,
    acks: Arc<AtomicU64>,
    sent_counter: Counter,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = sub.cancel.cancelled() => return,
            message = consumer.messages.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_QUEUE_BATCH {
            match consumer.messages.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        // A MESSAGE with `redelivered:false` must never be a repeat, even after a crash.
        let first_time = batch
            .iter()
            .filter(|m| !m.redelivered)
            .map(|m| m.row)
            .collect();
        if let Err(e) = queues.mark_delivered(first_time).await {
            tracing::error!(error = %e, "could not record queue deliveries; ending the subscription");
            return;
        }
        for message in batch {
            let ack = (sub.mode != AckMode::Auto).then(|| {
                let n = acks.fetch_add(1, Ordering::Relaxed);
                sub.push(n, message.message_id.clone(), message.row);
                n.to_string()
            });
            let ack = ack.filter(|_| version == Version::V1_2);
            let frame = frames::queue_message(&message, &sub.id, ack.as_deref(), version);
            tokio::select! {
                biased;
                () = sub.cancel.cancelled() => return,
                sent = out.send(frame) => if sent.is_err() { return },
            }
            sent_counter.inc();
            if sub.mode == AckMode::Auto {
                let settled = queues
                    .settle(
                        &consumer.queue,
                        consumer.id,
                        vec![message.row],
                        Outcome::Ack,
                    )
                    .await;
                if let Err(e) = settled {
                    tracing::warn!(error = %e, "could not remove an auto-acknowledged queue message");
                }
            }
        }
    }
}
