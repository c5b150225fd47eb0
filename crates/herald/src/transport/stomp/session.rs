//! One STOMP session, whatever carries its bytes: a state machine fed byte chunks from a
//! channel, writing encoded frames to a bounded channel.
//!
//! Frames are handled one at a time, in order, so a SEND's RECEIPT (and a COMMIT's) goes out
//! only after `Log::publish` returned, i.e. once the events are durably in the log. Any
//! protocol violation is answered with ERROR (with `receipt-id` when the offending frame asked
//! for a receipt) and the connection is closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_codec::stomp::{
    Command, Decoder, Frame, Limits, Parsed, Version, encode, negotiate, parse_heart_beat,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::Context;
use super::frames;
use super::subscription::{self, AckKey, AckMode, Subscription};
use crate::auth::limits::ConnectionGuard;
use crate::auth::{AuthError, Forbidden, Principal};
use crate::core::event::{NewEvent, now_ms};
use crate::core::follow::{FollowError, Start};
use crate::core::queue::Outcome;
use crate::core::topic::PatternSet;
use crate::store::queue::NewQueueMessage;

/// Shortest heart-beat interval the server agrees to, in either direction.
const MIN_HEART_BEAT: Duration = Duration::from_secs(1);
/// Unacknowledged messages a client-acked subscription may hold unless `prefetch-count` says.
const DEFAULT_PREFETCH: usize = 1000;
/// Open transactions one connection may hold.
const MAX_TRANSACTIONS: usize = 100;
/// Far enough away to mean "never" for a deadline.
const NEVER: Duration = Duration::from_secs(86_400 * 365);

/// A protocol violation: answered with ERROR, then the connection closes.
#[derive(Debug)]
pub(crate) struct Violation {
    message: String,
    details: String,
    receipt: Option<String>,
}

impl Violation {
    pub(crate) fn new(message: &str, details: impl Into<String>) -> Self {
        Self {
            message: message.to_owned(),
            details: details.into(),
            receipt: None,
        }
    }
}

/// What to do after a frame.
enum Flow {
    Continue,
    Close,
}

/// SENDs and acknowledgements held until COMMIT.
#[derive(Default)]
struct Transaction {
    sends: Vec<NewEvent>,
    queue_sends: Vec<NewQueueMessage>,
    acks: Vec<(Command, Option<String>, AckKey)>,
    bytes: usize,
}

/// Runs a session until the peer goes away, breaks the protocol, disconnects, or the server
/// shuts down. `offered` is the version a WebSocket subprotocol named, if any.
/// `peer` says who is on the other end before CONNECT: whether it connects from loopback
/// (for `--dev`), and whom the WebSocket upgrade request authenticated, if anyone.
pub(crate) async fn run(
    ctx: Arc<Context>,
    inbound: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Bytes>,
    offered: Option<Version>,
    peer: Peer,
) {
    let limits = Limits {
        max_frame_size: ctx.config.max_frame,
        max_headers: ctx.config.max_headers,
        max_header_line: ctx.config.max_header_line,
    };
    let mut session = Session {
        decoder: Decoder::new(Version::V1_2, limits),
        ctx,
        out,
        offered,
        version: None,
        buf: BytesMut::new(),
        send_every: None,
        silent_for: None,
        subs: HashMap::new(),
        transactions: HashMap::new(),
        connection: CancellationToken::new(),
        acks: Arc::new(AtomicU64::new(1)),
        peer,
        principal: None,
        _admitted: None,
        _counted: None,
    };
    session.serve(inbound).await;
    // Ends every subscription task, which drops their outbound senders so the writer can finish.
    session.connection.cancel();
}

struct Session {
    ctx: Arc<Context>,
    out: mpsc::Sender<Bytes>,
    offered: Option<Version>,
    /// `None` until CONNECT is answered.
    version: Option<Version>,
    decoder: Decoder,
    buf: BytesMut,
    /// How often the server sends a heart-beat.
    send_every: Option<Duration>,
    /// How long the client may stay silent before it counts as dead.
    silent_for: Option<Duration>,
    subs: HashMap<String, Arc<Subscription>>,
    transactions: HashMap<String, Transaction>,
    /// Cancelled when the connection ends; every subscription's token is a child of it.
    connection: CancellationToken,
    /// The next MESSAGE `ack` number.
    acks: Arc<AtomicU64>,
    peer: Peer,
    /// Who the session acts for, from CONNECT on.
    principal: Option<Principal>,
    /// This connection's place in the caller's connection limits, from CONNECT on.
    _admitted: Option<ConnectionGuard>,
    /// This connection in the `connections{transport="stomp"}` gauge, from CONNECT on.
    _counted: Option<crate::metrics::ConnectionCount>,
}

/// What the transport knows of the peer before CONNECT.
pub(crate) struct Peer {
    pub ip: std::net::IpAddr,
    /// Authenticated from the WebSocket upgrade's `Authorization` header or `?token=`.
    pub upgraded: Option<Principal>,
}

impl Session {
    /// Who the session acts for; set by CONNECT before any other frame is handled.
    fn principal(&self) -> Result<&Principal, Violation> {
        self.principal
            .as_ref()
            .ok_or_else(|| Violation::new("not connected", "send CONNECT first"))
    }

    async fn serve(&mut self, mut inbound: mpsc::Receiver<Bytes>) {
        let shutdown = self.ctx.shutdown.clone();
        let connection = self.connection.clone();
        let mut deadline = Instant::now() + self.ctx.config.connect_timeout.0;
        let mut next_beat = Instant::now() + NEVER;
        loop {
            // A client token ends the connection when it expires.
            let expiry = match self.principal.as_ref().and_then(Principal::expires_ms) {
                Some(ms) => {
                    Instant::now()
                        + Duration::from_millis(ms.saturating_sub(now_ms()).max(0) as u64)
                }
                None => Instant::now() + NEVER,
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.error(Violation::new("server shutting down", "reconnect to resume")).await;
                    return;
                }
                () = sleep_until(expiry) => {
                    self.error(Violation::new("token expired", "reconnect with a fresh token")).await;
                    return;
                }
                () = connection.cancelled() => return,
                chunk = inbound.recv() => {
                    let Some(chunk) = chunk else { return };
                    self.buf.extend_from_slice(&chunk);
                    if let Flow::Close = self.drain().await {
                        return;
                    }
                    deadline = match (self.version, self.silent_for) {
                        (None, _) => deadline,
                        (Some(_), Some(silence)) => Instant::now() + silence,
                        (Some(_), None) => Instant::now() + NEVER,
                    };
                    if let Some(every) = self.send_every {
                        next_beat = next_beat.min(Instant::now() + every);
                    }
                }
                () = sleep_until(deadline) => {
                    let why = if self.version.is_none() {
                        "no CONNECT frame arrived in time"
                    } else {
                        "no frame or heart-beat arrived within twice the agreed interval"
                    };
                    self.error(Violation::new("connection timed out", why)).await;
                    return;
                }
                () = sleep_until(next_beat) => {
                    // A full queue means frames are on their way, which count as a heart-beat.
                    let _ = self.out.try_send(Bytes::from_static(b"\n"));
                    next_beat = Instant::now() + self.send_every.unwrap_or(NEVER);
                }
            }
        }
    }

    /// Handles every whole frame in the buffer.
    async fn drain(&mut self) -> Flow {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(None) => return Flow::Continue,
                Ok(Some(Parsed::HeartBeat)) => {}
                Ok(Some(Parsed::Frame(frame))) => {
                    let receipt = frame.header("receipt").map(str::to_owned);
                    match self.handle(frame).await {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Close) => return Flow::Close,
                        Err(mut violation) => {
                            violation.receipt = receipt;
                            self.error(violation).await;
                            return Flow::Close;
                        }
                    }
                }
                Err(e) => {
                    self.error(Violation::new("malformed frame", e.to_string()))
                        .await;
                    return Flow::Close;
                }
            }
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<Flow, Violation> {
        let Some(version) = self.version else {
            return match frame.command {
                Command::Connect | Command::Stomp => self.connect(&frame).await,
                other => Err(Violation::new(
                    "not connected",
                    format!("the first frame must be CONNECT or STOMP, not {other}"),
                )),
            };
        };
        match frame.command {
            Command::Connect | Command::Stomp => {
                return Err(Violation::new(
                    "already connected",
                    "a session sends CONNECT once",
                ));
            }
            Command::Send => self.send(&frame).await?,
            Command::Subscribe => self.subscribe(&frame, version).await?,
            Command::Unsubscribe => self.unsubscribe(&frame)?,
            Command::Ack | Command::Nack => self.ack(&frame, version).await?,
            Command::Begin => self.begin(&frame)?,
            Command::Commit => self.commit(&frame).await?,
            Command::Abort => {
                let id = required(&frame, "transaction")?;
                self.transactions
                    .remove(id)
                    .ok_or_else(|| unknown_transaction(id))?;
            }
            Command::Disconnect => {
                if let Some(receipt) = frame.header("receipt") {
                    self.write(&Frame::receipt(receipt)).await;
                }
                return Ok(Flow::Close);
            }
            other => {
                return Err(Violation::new(
                    "unexpected frame",
                    format!("{other} is a server frame; clients do not send it"),
                ));
            }
        }
        if let Some(receipt) = frame.header("receipt") {
            self.write(&Frame::receipt(receipt)).await;
        }
        Ok(Flow::Continue)
    }

    async fn connect(&mut self, frame: &Frame) -> Result<Flow, Violation> {
        // `login` is ignored: `passcode` carries an API key or a client token.
        let principal = match (frame.header("passcode"), self.peer.upgraded.take()) {
            (None, Some(upgraded)) => Ok(upgraded),
            (passcode, _) => {
                self.ctx
                    .auth
                    .authenticate(passcode, self.peer.ip.is_loopback())
                    .await
            }
        };
        match principal {
            Ok(principal) => {
                let admitted = self.ctx.admission.connect(self.peer.ip, &principal);
                self._admitted =
                    Some(admitted.map_err(|e| Violation::new("too many connections", e))?);
                self._counted = Some(self.ctx.metrics.connection("stomp"));
                self.principal = Some(principal);
            }
            Err(AuthError::Store(e)) => {
                tracing::error!(error = %e, "STOMP authentication failed");
                return Err(Violation::new(
                    "authentication failed",
                    "the server could not check the credentials; try again",
                ));
            }
            Err(e) => return Err(Violation::new("authentication failed", e.to_string())),
        }
        let version = match frame.header("accept-version") {
            Some(offered) => negotiate(Some(offered)),
            None => Some(self.offered.unwrap_or(Version::V1_0)),
        };
        let Some(version) = version else {
            let error = Frame::error(
                "unsupported protocol version",
                "Herald speaks STOMP 1.0, 1.1 and 1.2",
            )
            .with_header("version", "1.0,1.1,1.2");
            self.write(&error).await;
            return Ok(Flow::Close);
        };
        let (cx, cy) = match frame.header("heart-beat") {
            Some(value) if version > Version::V1_0 => parse_heart_beat(value)
                .map_err(|e| Violation::new("invalid heart-beat", e.to_string()))?,
            _ => (0, 0),
        };
        let agreed = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms).max(MIN_HEART_BEAT));
        self.send_every = agreed(cy);
        let receive_every = agreed(cx);
        self.silent_for = receive_every.map(|d| d * 2);
        let millis = |d: Option<Duration>| d.map_or(0, |d| d.as_millis() as u64);
        self.version = Some(version);
        self.decoder.set_version(version);
        let connected = Frame::connected(version, (millis(self.send_every), millis(receive_every)))
            .with_header("server", concat!("herald/", env!("CARGO_PKG_VERSION")))
            .with_header("session", crate::core::event::generate_id());
        self.write(&connected).await;
        Ok(Flow::Continue)
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Violation> {
        let destination = required(frame, "destination")?;
        let target = destination
            .strip_prefix("/topic/")
            .or_else(|| destination.strip_prefix("/queue/"));
        if let Some(target) = target {
            self.principal()?
                .require_publish(target)
                .map_err(forbidden)?;
        }
        let (event, queued) = if let Some(topic) = destination.strip_prefix("/topic/") {
            (
                Some(frames::new_event(frame, topic, self.ctx.max_event)?),
                None,
            )
        } else if let Some(queue) = destination.strip_prefix("/queue/") {
            let message = frames::new_queue_message(frame, queue, self.ctx.max_event)?;
            (None, Some(message))
        } else {
            return Err(unknown_destination(destination));
        };
        if let Some(id) = frame.header("transaction") {
            let limit = self.ctx.max_transaction;
            let tx = self
                .transactions
                .get_mut(id)
                .ok_or_else(|| unknown_transaction(id))?;
            tx.bytes += frame.body.len();
            if tx.bytes > limit {
                return Err(Violation::new(
                    "transaction too large",
                    format!("transaction {id} holds more than {limit} bytes (limits.max_body)"),
                ));
            }
            tx.sends.extend(event);
            tx.queue_sends.extend(queued);
            return Ok(());
        }
        if let Some(event) = event {
            self.publish(vec![event]).await?;
        }
        if let Some(message) = queued {
            self.enqueue(vec![message]).await?;
        }
        Ok(())
    }

    async fn enqueue(&self, messages: Vec<NewQueueMessage>) -> Result<(), Violation> {
        self.throttle(messages.len()).await?;
        self.ctx.queues.send(messages).await.map_err(|e| {
            tracing::error!(error = %e, "STOMP queue send failed");
            Violation::new(
                "send failed",
                "the message could not be stored; send it again",
            )
        })
    }

    /// Waits while the caller is over its publish rate: STOMP has no "retry later", so a fast
    /// sender is slowed down (its reads stop, TCP pushes back) rather than refused.
    async fn throttle(&self, n: usize) -> Result<(), Violation> {
        let principal = self.principal()?;
        while let Err(wait) = self.ctx.admission.publish(principal, n) {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    async fn publish(&self, events: Vec<NewEvent>) -> Result<(), Violation> {
        self.throttle(events.len()).await?;
        let appended = self.ctx.log.publish(events).await.map_err(|e| {
            tracing::error!(error = %e, "STOMP publish failed");
            Violation::new(
                "publish failed",
                "the event could not be stored; send it again",
            )
        })?;
        for a in appended.iter().filter(|a| a.created) {
            self.ctx
                .metrics
                .published(&a.event.topic, a.event.payload.len());
        }
        Ok(())
    }

    /// The counter of MESSAGE frames this transport sends.
    fn sent_counter(&self) -> prometheus_client::metrics::counter::Counter {
        self.ctx
            .metrics
            .sent
            .get_or_create(&vec![("transport", "stomp".to_owned())])
            .clone()
    }

    async fn subscribe(&mut self, frame: &Frame, version: Version) -> Result<(), Violation> {
        let destination = required(frame, "destination")?;
        let id = match frame.header("id") {
            Some(id) => id,
            // STOMP 1.0 made `id` optional; the destination then names the subscription.
            None if version == Version::V1_0 => destination,
            None => return Err(missing("id")),
        };
        if self.subs.contains_key(id) {
            return Err(Violation::new(
                "duplicate subscription id",
                format!("subscription {id} already exists on this connection"),
            ));
        }
        if self.subs.len() >= self.ctx.config.max_subscriptions {
            return Err(Violation::new(
                "too many subscriptions",
                format!(
                    "a connection may hold {} subscriptions (stomp.max_subscriptions)",
                    self.ctx.config.max_subscriptions
                ),
            ));
        }
        let mode = AckMode::parse(frame.header("ack")).ok_or_else(|| {
            Violation::new(
                "invalid ack mode",
                "ack must be auto, client or client-individual",
            )
        })?;
        let prefetch = match frame.header("prefetch-count") {
            None => DEFAULT_PREFETCH,
            Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Violation::new(
                    "invalid prefetch-count",
                    "prefetch-count must be a positive number",
                )
            })?,
        };
        if let Some(queue) = destination.strip_prefix("/queue/") {
            let exact = PatternSet::parse(&[queue]).ok().flatten();
            if let Some(exact) = &exact {
                self.principal()?
                    .require_subscribe(exact)
                    .map_err(forbidden)?;
            }
            crate::core::topic::Topic::parse(queue).map_err(|e| {
                Violation::new(
                    "invalid destination",
                    e.to_string().replace("topic", "queue"),
                )
            })?;
            let consumer = self.ctx.queues.subscribe(queue, prefetch);
            let sub = Arc::new(Subscription::new(
                id.to_owned(),
                mode,
                prefetch,
                self.connection.child_token(),
                Some((queue.to_owned(), consumer.id)),
            ));
            self.subs.insert(id.to_owned(), sub.clone());
            tokio::spawn(subscription::pump_queue(
                sub,
                consumer,
                self.ctx.queues.clone(),
                version,
                self.out.clone(),
                self.acks.clone(),
                self.sent_counter(),
            ));
            return Ok(());
        }
        let Some(pattern) = destination.strip_prefix("/topic/") else {
            return Err(unknown_destination(destination));
        };
        let patterns = PatternSet::parse(&[pattern])
            .map_err(|e| Violation::new("invalid destination", e.to_string()))?
            .ok_or_else(|| unknown_destination(destination))?;
        self.principal()?
            .require_subscribe(&patterns)
            .map_err(forbidden)?;
        let start = match frame.header("after") {
            None => Start::Now,
            Some(after) => {
                let after: u64 = after.parse().map_err(|_| {
                    Violation::new("invalid after", "after must be a seq: a number, 0 or more")
                })?;
                self.ctx
                    .log
                    .ensure_retained(&patterns, after)
                    .await
                    .map_err(|e| match e {
                        FollowError::Expired { .. } => {
                            Violation::new("events expired", e.to_string())
                        }
                        e => {
                            tracing::error!(error = %e, "STOMP subscribe failed");
                            Violation::new(
                                "subscribe failed",
                                "the log could not be read; try again",
                            )
                        }
                    })?;
                Start::After(after)
            }
        };
        // The follower exists before the RECEIPT goes out: anything published after the client
        // has its receipt reaches this subscription.
        let follower = self.ctx.log.follow(patterns, start);
        let sub = Arc::new(Subscription::new(
            id.to_owned(),
            mode,
            prefetch,
            self.connection.child_token(),
            None,
        ));
        self.subs.insert(id.to_owned(), sub.clone());
        tokio::spawn(subscription::pump(
            sub,
            follower,
            version,
            self.out.clone(),
            self.acks.clone(),
            self.connection.clone(),
            self.sent_counter(),
        ));
        Ok(())
    }

    fn unsubscribe(&mut self, frame: &Frame) -> Result<(), Violation> {
        let id = frame
            .header("id")
            .or_else(|| {
                (self.version == Some(Version::V1_0))
                    .then(|| frame.header("destination"))
                    .flatten()
            })
            .ok_or_else(|| missing("id"))?;
        let sub = self.subs.remove(id).ok_or_else(|| {
            Violation::new(
                "unknown subscription",
                format!("no subscription {id} on this connection"),
            )
        })?;
        sub.cancel.cancel();
        Ok(())
    }

    async fn ack(&mut self, frame: &Frame, version: Version) -> Result<(), Violation> {
        if frame.command == Command::Nack && version == Version::V1_0 {
            return Err(Violation::new(
                "unexpected frame",
                "NACK is not part of STOMP 1.0",
            ));
        }
        let key = if version == Version::V1_2 {
            let id = required(frame, "id")?;
            AckKey::Ack(id.parse().map_err(|_| unknown_ack(id))?)
        } else {
            AckKey::MessageId(required(frame, "message-id")?.to_owned())
        };
        let subscription = frame.header("subscription").map(str::to_owned);
        if let Some(id) = frame.header("transaction") {
            let tx = self
                .transactions
                .get_mut(id)
                .ok_or_else(|| unknown_transaction(id))?;
            // Checked now so a bad ACK fails at once, and settled at COMMIT.
            if !self.subs.values().any(|s| s.holds(&key)) {
                return Err(unknown_ack(&describe(&key)));
            }
            tx.acks.push((frame.command, subscription, key));
            return Ok(());
        }
        self.settle(frame.command, subscription.as_deref(), &key)
            .await
    }

    /// Settles an ACK or NACK. On a queue, ACK deletes the messages (the RECEIPT follows the
    /// delete) and NACK requeues them for redelivery. On a topic both just release them: the
    /// log keeps every event, so a client that wants one again resubscribes with `after`.
    async fn settle(
        &self,
        command: Command,
        subscription: Option<&str>,
        key: &AckKey,
    ) -> Result<(), Violation> {
        let found = self
            .subs
            .values()
            .filter(|s| subscription.is_none_or(|id| s.id == id))
            .find_map(|s| {
                let settled = s.settle(key);
                (!settled.is_empty()).then(|| (s.clone(), settled))
            });
        let Some((sub, settled)) = found else {
            return Err(unknown_ack(&describe(key)));
        };
        if let Some((queue, consumer)) = &sub.queue {
            let outcome = if command == Command::Nack {
                Outcome::Nack
            } else {
                Outcome::Ack
            };
            let rows = settled.iter().map(|u| u.row).collect();
            self.ctx
                .queues
                .settle(queue, *consumer, rows, outcome)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "STOMP queue acknowledgement failed");
                    Violation::new("acknowledgement failed", "the queue could not be updated")
                })?;
        }
        Ok(())
    }

    fn begin(&mut self, frame: &Frame) -> Result<(), Violation> {
        let id = required(frame, "transaction")?;
        if self.transactions.contains_key(id) {
            return Err(Violation::new(
                "duplicate transaction",
                format!("transaction {id} has already begun"),
            ));
        }
        if self.transactions.len() >= MAX_TRANSACTIONS {
            return Err(Violation::new(
                "too many transactions",
                format!("a connection may hold {MAX_TRANSACTIONS} open transactions"),
            ));
        }
        self.transactions
            .insert(id.to_owned(), Transaction::default());
        Ok(())
    }

    /// Appends the transaction's SENDs in one atomic publish, then settles its ACKs and NACKs.
    async fn commit(&mut self, frame: &Frame) -> Result<(), Violation> {
        let id = required(frame, "transaction")?;
        let tx = self
            .transactions
            .remove(id)
            .ok_or_else(|| unknown_transaction(id))?;
        if !tx.sends.is_empty() {
            self.publish(tx.sends).await?;
        }
        if !tx.queue_sends.is_empty() {
            self.enqueue(tx.queue_sends).await?;
        }
        for (command, subscription, key) in &tx.acks {
            self.settle(*command, subscription.as_deref(), key).await?;
        }
        Ok(())
    }

    /// Sends ERROR; the caller then closes the connection.
    async fn error(&self, violation: Violation) {
        let mut frame = Frame::error(&violation.message, &violation.details);
        if let Some(receipt) = &violation.receipt {
            frame = frame.with_header("receipt-id", receipt.as_str());
        }
        self.write(&frame).await;
    }

    async fn write(&self, frame: &Frame) {
        let mut bytes = BytesMut::new();
        // Before CONNECTED nothing is agreed, so write as 1.0, which every client reads.
        encode(frame, self.version.unwrap_or(Version::V1_0), &mut bytes);
        // A send fails only when the writer is gone, and then the connection is over anyway.
        let _ = self.out.send(bytes.freeze()).await;
    }
}

fn forbidden(e: Forbidden) -> Violation {
    Violation::new("forbidden", e.0)
}

fn required<'a>(frame: &'a Frame, name: &str) -> Result<&'a str, Violation> {
    frame.header(name).ok_or_else(|| missing(name))
}

fn missing(name: &str) -> Violation {
    Violation::new(
        "missing header",
        format!("this frame needs a `{name}` header"),
    )
}

fn unknown_destination(destination: &str) -> Violation {
    Violation::new(
        "unknown destination",
        format!(
            "destination `{destination}` is neither /topic/<name or pattern> nor /queue/<name>"
        ),
    )
}

fn unknown_transaction(id: &str) -> Violation {
    Violation::new(
        "unknown transaction",
        format!("no transaction {id} is open on this connection"),
    )
}

fn unknown_ack(id: &str) -> Violation {
    Violation::new(
        "unknown message",
        format!("no unacknowledged message {id} on this connection"),
    )
}

fn describe(key: &AckKey) -> String {
    match key {
        AckKey::Ack(n) => n.to_string(),
        AckKey::MessageId(id) => id.clone(),
    }
}
