//! The cluster bus: committed events travel between nodes over NATS (core pub/sub, no
//! JetStream), and each node hands them to its live readers strictly in `seq` order.
//!
//! Every node publishes the events its own store commits on `<prefix>.events`, and receives the
//! other nodes' there. Messages from different nodes may arrive in any order, and NATS may drop
//! some (a reconnect, a slow consumer), so nothing is handed on as it arrives: a sequencer task
//! per node keeps `next`, the one `seq` it may deliver now, buffers anything later, and fills a
//! gap from the store when it does not close by itself within [`GAP_WAIT`]. Because the store
//! never reveals `seq` N+1 before N (see `store/`), whatever the store shows after `next - 1` is
//! exactly what was committed there, so a gap filled from it is filled for good. A poll of the
//! store every [`POLL_EVERY`] catches up when NATS is silent (lost messages at the end of a
//! burst, or NATS down). Live readers therefore see every event once, in `seq` order, on every
//! node, just as with the in-process bus.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::Bus;
use crate::core::event::{Event, Payload};
use crate::core::topic::{Pattern, PatternSet};
use crate::store::Store;

/// How long a gap may stay open before the sequencer reads it from the store.
pub const GAP_WAIT: Duration = Duration::from_millis(100);
/// How often the sequencer asks the store whether it missed something.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Events read from the store per gap-filling query.
const FILL_LIMIT: usize = 1000;
/// The header naming the node a message comes from (its own messages are skipped).
const NODE_HEADER: &str = "herald-node";

/// The NATS-backed [`Bus`].
pub struct NatsBus {
    client: async_nats::Client,
    local: broadcast::Sender<Arc<Event>>,
    /// This node's commits, in commit order: to the sequencer and to NATS.
    committed: mpsc::UnboundedSender<Vec<Arc<Event>>>,
    started: OnceLock<()>,
    parts: std::sync::Mutex<Option<Parts>>,
}

/// What [`NatsBus::start`] needs, kept from [`NatsBus::connect`] until then.
struct Parts {
    client: async_nats::Client,
    subject: String,
    node: String,
    committed: mpsc::UnboundedReceiver<Vec<Arc<Event>>>,
    remote: async_nats::Subscriber,
}

impl NatsBus {
    /// Connects to NATS at `url` and subscribes to `<prefix>.events` (so nothing published from
    /// now on is missed); readers get events once [`NatsBus::start`] has the store.
    pub async fn connect(url: &str, prefix: &str, capacity: usize) -> anyhow::Result<Arc<Self>> {
        let client = async_nats::ConnectOptions::new()
            .name("herald")
            .request_timeout(Some(Duration::from_secs(30)))
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| {
                let shown = crate::config::without_credentials(url);
                anyhow::anyhow!("cannot connect to NATS at {shown}: {e}")
            })?;
        let subject = format!("{prefix}.events");
        let remote = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot subscribe to {subject} on NATS: {e}"))?;
        let (committed_tx, committed_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            client: client.clone(),
            local: broadcast::channel(capacity).0,
            committed: committed_tx,
            started: OnceLock::new(),
            parts: std::sync::Mutex::new(Some(Parts {
                client,
                subject,
                node: ulid::Ulid::new().to_string(),
                committed: committed_rx,
                remote,
            })),
        }))
    }

    /// The NATS connection, for the cluster's other traffic.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Starts delivering: from the event after the store's head, in `seq` order. Call once,
    /// after the store is open; later calls do nothing.
    pub fn start(&self, store: Arc<dyn Store>) {
        if self.started.set(()).is_err() {
            return;
        }
        let parts = self
            .parts
            .lock()
            .expect("bus lock")
            .take()
            .expect("parts are there until started");
        let (to_sequencer, from_nodes) = mpsc::unbounded_channel();
        tokio::spawn(forward_commits(
            parts.committed,
            to_sequencer.clone(),
            parts.client,
            parts.subject,
            parts.node.clone(),
        ));
        tokio::spawn(receive(parts.remote, parts.node, to_sequencer));
        let sequencer = Sequencer {
            next: store.head() + 1,
            pending: BTreeMap::new(),
            store,
            local: self.local.clone(),
            all: PatternSet::new(vec![Pattern::parse(">").expect("`>` is a pattern")])
                .expect("one pattern"),
        };
        tokio::spawn(sequencer.run(from_nodes));
    }
}

impl Bus for NatsBus {
    fn publish(&self, events: &[Arc<Event>]) {
        // Only fails once the runtime is gone, when nobody is listening anyway.
        let _ = self.committed.send(events.to_vec());
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }
}

/// Hands this node's commits to the sequencer at once, and to the other nodes over NATS.
async fn forward_commits(
    mut committed: mpsc::UnboundedReceiver<Vec<Arc<Event>>>,
    sequencer: mpsc::UnboundedSender<Vec<Arc<Event>>>,
    client: async_nats::Client,
    subject: String,
    node: String,
) {
    while let Some(events) = committed.recv().await {
        let body = encode(&events);
        let _ = sequencer.send(events);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NODE_HEADER, node.as_str());
        if let Err(e) = client
            .publish_with_headers(subject.clone(), headers, body)
            .await
        {
            // The other nodes catch up from the store (their poll), so this costs latency only.
            tracing::warn!(error = %e, "cannot publish events on NATS");
        }
    }
}

/// Passes the other nodes' events to the sequencer.
async fn receive(
    mut remote: async_nats::Subscriber,
    node: String,
    sequencer: mpsc::UnboundedSender<Vec<Arc<Event>>>,
) {
    use futures_util::StreamExt;
    while let Some(message) = remote.next().await {
        let from = message.headers.as_ref().and_then(|h| h.get(NODE_HEADER));
        if from.is_some_and(|from| from.as_str() == node) {
            continue;
        }
        match decode(&message.payload) {
            Ok(events) => {
                if sequencer.send(events).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "ignoring a malformed events message on NATS"),
        }
    }
}

/// Delivers events to this node's readers strictly in `seq` order, filling gaps from the store.
struct Sequencer {
    /// The only `seq` that may be delivered now.
    next: u64,
    /// Events that arrived ahead of `next`.
    pending: BTreeMap<u64, Arc<Event>>,
    store: Arc<dyn Store>,
    local: broadcast::Sender<Arc<Event>>,
    all: PatternSet,
}

impl Sequencer {
    async fn run(mut self, mut input: mpsc::UnboundedReceiver<Vec<Arc<Event>>>) {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // When the oldest open gap must be filled from the store.
        let mut gap_deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                batch = input.recv() => match batch {
                    Some(events) => self.accept(events),
                    None => return,
                },
                () = sleep_until(gap_deadline) => self.fill().await,
                _ = poll.tick() => self.fill().await,
            }
            gap_deadline = match (self.pending.is_empty(), gap_deadline) {
                (true, _) => None,
                (false, None) => Some(Instant::now() + GAP_WAIT),
                (false, Some(deadline)) => Some(deadline),
            };
        }
    }

    /// Takes events from any node, delivering what is now in order.
    fn accept(&mut self, events: Vec<Arc<Event>>) {
        for event in events {
            if event.seq >= self.next {
                self.pending.insert(event.seq, event);
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        let before = self.next;
        while let Some(event) = self.pending.remove(&self.next) {
            self.next += 1;
            // An error only means no reader is listening right now.
            let _ = self.local.send(event);
        }
        if self.next > before {
            self.store.observe_head(self.next - 1);
        }
    }

    /// Reads what the store has after `next - 1` and delivers it. That is everything committed
    /// there (the store never shows N+1 before N), so a `seq` it skips was never committed and
    /// never will be.
    async fn fill(&mut self) {
        loop {
            let events = match self.store.read(&self.all, self.next - 1, FILL_LIMIT).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the store to fill a gap; will retry");
                    return;
                }
            };
            let full = events.len() == FILL_LIMIT;
            for event in events {
                self.deliver_from_store(event);
            }
            if !full {
                break;
            }
        }
        // Still pending: committed (a node sent it after its commit) but gone from the store
        // (retention removed it meanwhile). Deliver it in order rather than wait for it.
        while let Some(&first) = self.pending.keys().next() {
            self.next = first;
            self.drain();
        }
    }

    fn deliver_from_store(&mut self, event: Arc<Event>) {
        if event.seq < self.next {
            return;
        }
        // Pending events before it were committed too: they go first.
        while let Some(&first) = self.pending.keys().next() {
            if first >= event.seq {
                break;
            }
            self.next = first;
            self.drain();
        }
        self.next = event.seq;
        self.pending.insert(event.seq, event);
        self.drain();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// One event on the wire.
#[derive(Serialize, Deserialize)]
struct WireEvent<'a> {
    seq: u64,
    id: &'a str,
    topic: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    time_ms: i64,
    /// A JSON payload, as is.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    json: Option<&'a RawValue>,
    /// A text payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    /// A binary payload, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(&'a str, &'a str)>,
}

fn encode(events: &[Arc<Event>]) -> Bytes {
    use base64::Engine as _;
    let wire: Vec<WireEvent<'_>> = events
        .iter()
        .map(|e| {
            let (json, text, base64, content_type) = match &e.payload {
                Payload::Json(json) => (
                    Some(serde_json::from_str::<&RawValue>(json).expect("stored JSON is valid")),
                    None,
                    None,
                    None,
                ),
                Payload::Text { content_type, text } => {
                    (None, Some(text.as_str()), None, Some(content_type.as_str()))
                }
                Payload::Binary {
                    content_type,
                    bytes,
                } => (
                    None,
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    Some(content_type.as_str()),
                ),
            };
            WireEvent {
                seq: e.seq,
                id: &e.id,
                topic: &e.topic,
                event_type: &e.event_type,
                time_ms: e.time_ms,
                json,
                text,
                base64,
                content_type,
                headers: e
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
            }
        })
        .collect();
    Bytes::from(serde_json::to_vec(&wire).expect("events serialise"))
}

fn decode(body: &[u8]) -> anyhow::Result<Vec<Arc<Event>>> {
    use base64::Engine as _;
    let wire: Vec<WireEvent<'_>> = serde_json::from_slice(body)?;
    wire.into_iter()
        .map(|w| {
            let content_type = || {
                w.content_type
                    .unwrap_or("application/octet-stream")
                    .to_owned()
            };
            let payload = match (w.json, w.text, &w.base64) {
                (Some(json), None, None) => Payload::Json(json.get().to_owned()),
                (None, Some(text), None) => Payload::Text {
                    content_type: content_type(),
                    text: text.to_owned(),
                },
                (None, None, Some(b64)) => Payload::Binary {
                    content_type: content_type(),
                    bytes: base64::engine::general_purpose::STANDARD.decode(b64)?,
                },
                _ => anyhow::bail!("event {} has no single payload", w.seq),
            };
            Ok(Event::with_headers(
                w.seq,
                w.id.to_owned(),
                w.topic.to_owned(),
                w.event_type.to_owned(),
                w.time_ms,
                payload,
                w.headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::local::LocalBus;
    use crate::core::event::NewEvent;
    use crate::core::topic::Topic;
    use crate::store::sqlite::{SqliteStore, SyncMode};

    /// The NATS to test against, or `None` (and a note) when `HERALD_TEST_NATS_URL` is unset.
    fn nats_url() -> Option<String> {
        let url = std::env::var("HERALD_TEST_NATS_URL").ok();
        if url.is_none() {
            eprintln!("skipped: HERALD_TEST_NATS_URL is not set (.ci/run sets it)");
        }
        url
    }

    fn event(topic: &str, n: u32) -> NewEvent {
        NewEvent {
            topic: Topic::parse(topic).unwrap(),
            id: None,
            event_type: None,
            payload: Payload::Json(n.to_string()),
            headers: Vec::new(),
        }
    }

    /// The next `n` seqs a receiver gets, failing after 10 s.
    async fn take(rx: &mut broadcast::Receiver<Arc<Event>>, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        while seqs.len() < n {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an event within 10 s")
                .expect("no lag");
            seqs.push(event.seq);
        }
        seqs
    }

    /// Two nodes on one store: what node A commits reaches node B's readers, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_node_receives_commits_in_order() {
        let Some(url) = nats_url() else { return };
        let prefix = format!("test{}", ulid::Ulid::new());
        let dir = tempfile::tempdir().unwrap();
        let a = NatsBus::connect(&url, &prefix, 4096).await.unwrap();
        let b = NatsBus::connect(&url, &prefix, 4096).await.unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path(), SyncMode::Off, a.clone()).unwrap());
        a.start(store.clone());
        b.start(store.clone());
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        let mut want = Vec::new();
        for i in 0..50 {
            let batch = vec![event("orders.1", i), event("chat.2", i)];
            want.extend(
                store
                    .append(batch)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.event.seq),
            );
        }
        assert_eq!(take(&mut on_a, want.len()).await, want);
        assert_eq!(take(&mut on_b, want.len()).await, want);
    }

    /// Events that never come over NATS (here: committed with no NATS at all) still reach a
    /// node's readers, from the store, in order; one that arrives ahead of a gap waits for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gaps_are_filled_from_the_store() {
        let Some(url) = nats_url() else { return };
        let prefix = format!("test{}", ulid::Ulid::new());
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path(), SyncMode::Off, Arc::new(LocalBus::new(16))).unwrap(),
        );
        let b = NatsBus::connect(&url, &prefix, 4096).await.unwrap();
        b.start(store.clone());
        let mut on_b = b.subscribe();
        let stored = store
            .append(vec![event("a.b", 1), event("a.b", 2), event("a.b", 3)])
            .await
            .unwrap();
        // Only the last one is announced on NATS, as if the others' message were lost.
        let client = async_nats::connect(&url).await.unwrap();
        let last = vec![stored[2].event.clone()];
        client
            .publish(format!("{prefix}.events"), encode(&last))
            .await
            .unwrap();
        client.flush().await.unwrap();
        assert_eq!(take(&mut on_b, 3).await, [1, 2, 3]);
        // Later commits nobody announces come from the store's poll.
        store.append(vec![event("a.b", 4)]).await.unwrap();
        assert_eq!(take(&mut on_b, 1).await, [4]);
    }

    #[test]
    fn events_survive_the_wire() {
        let events = vec![
            Event::new(
                7,
                "a".into(),
                "orders.1".into(),
                "t".into(),
                1000,
                Payload::Json(r#"{"x":[1,"é"]}"#.into()),
            ),
            Event::with_headers(
                8,
                "b".into(),
                "chat.1".into(),
                "chat.1".into(),
                1001,
                Payload::Text {
                    content_type: "text/plain".into(),
                    text: "hi".into(),
                },
                vec![("x-app".into(), "1".into())],
            ),
            Event::new(
                9,
                "c".into(),
                "bin".into(),
                "bin".into(),
                1002,
                Payload::Binary {
                    content_type: "application/octet-stream".into(),
                    bytes: vec![0, 255],
                },
            ),
        ];
        let back = decode(&encode(&events)).unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in events.iter().zip(&back) {
            assert_eq!(a.json(), b.json());
            assert_eq!(a.headers, b.headers);
            assert_eq!(a.payload, b.payload);
        }
        assert!(decode(b"[{\"seq\":1}]").is_err());
        assert!(decode(b"not json").is_err());
    }
}
