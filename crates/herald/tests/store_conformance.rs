//! The store conformance suite: what every backend must do, run against each of them.
//!
//! Every behaviour below runs on SQLite (always) and on PostgreSQL when
//! `HERALD_TEST_POSTGRES_URL` names a database (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! without it the PostgreSQL variants print `skipped: HERALD_TEST_POSTGRES_URL is not set` and
//! pass. Each PostgreSQL test works in a schema of its own, dropped at the end, so tests run in
//! parallel. "Nodes" are independent store instances on the same database (for SQLite, which
//! has one writer per file, every node is the same instance).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use herald::bus::Bus;
use herald::bus::local::LocalBus;
use herald::core::event::{Event, NewEvent, Payload, now_ms};
use herald::core::topic::{PatternSet, Topic};
use herald::store::keys::{KeyStore, StoredKey};
use herald::store::postgres::PostgresStore;
use herald::store::queue::{NewQueueMessage, QueueLeases, QueueStore};
use herald::store::sqlite::{SqliteStore, SyncMode};
use herald::store::webhooks::WebhookStore;
use herald::store::{RetentionPolicy, Store, StoreError};
use herald::webhook::model::{Attempt, Delivery, Spec, State, Status, Subscription};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// One node's view of the store, through each of its traits.
#[derive(Clone)]
struct Node {
    log: Arc<dyn Store>,
    webhooks: Arc<dyn WebhookStore>,
    keys: Arc<dyn KeyStore>,
    queues: Arc<dyn QueueStore>,
    bus: Arc<LocalBus>,
}

impl Node {
    fn of<S: Store + WebhookStore + KeyStore + QueueStore>(store: S, bus: Arc<LocalBus>) -> Self {
        let store = Arc::new(store);
        Self {
            log: store.clone(),
            webhooks: store.clone(),
            keys: store.clone(),
            queues: store,
            bus,
        }
    }
}

/// A fresh, empty database for one test.
enum Db {
    Sqlite {
        dir: tempfile::TempDir,
        node: Mutex<Option<Node>>,
    },
    Postgres {
        url: String,
        schema: String,
    },
}

impl Db {
    fn sqlite() -> Self {
        Db::Sqlite {
            dir: tempfile::tempdir().unwrap(),
            node: Mutex::new(None),
        }
    }

    /// A schema of its own in the test database, or `None` (and a note) when there is none.
    async fn postgres() -> Option<Self> {
        let Ok(url) = std::env::var("HERALD_TEST_POSTGRES_URL") else {
            println!("skipped: HERALD_TEST_POSTGRES_URL is not set");
            return None;
        };
        let schema = format!(
            "herald_test_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let mut conn = PgConnection::connect(&url)
            .await
            .expect("HERALD_TEST_POSTGRES_URL must name a reachable database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Some(Db::Postgres { url, schema })
    }

    /// A node: for PostgreSQL a new, independent store instance on the same schema.
    async fn node(&self) -> Node {
        let bus = Arc::new(LocalBus::new(4096));
        match self {
            Db::Sqlite { dir, node } => {
                let mut node = node.lock().unwrap();
                node.get_or_insert_with(|| {
                    let store = SqliteStore::open(dir.path(), SyncMode::Off, bus.clone()).unwrap();
                    Node::of(store, bus)
                })
                .clone()
            }
            Db::Postgres { url, schema } => {
                let options = PgConnectOptions::from_str(url)
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                Node::of(
                    PostgresStore::open_with(options, bus.clone())
                        .await
                        .unwrap(),
                    bus,
                )
            }
        }
    }

    /// PostgreSQL only: another store instance on this database, as one cluster node has.
    async fn postgres_store(&self) -> PostgresStore {
        let Db::Postgres { url, schema } = self else {
            panic!("not a PostgreSQL database");
        };
        let options = PgConnectOptions::from_str(url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        PostgresStore::open_with(options, Arc::new(LocalBus::new(16)))
            .await
            .unwrap()
    }

    /// Closes `node` and opens the store again, as after a restart.
    async fn restart(&self, node: Node) -> Node {
        node.log.close().await;
        if let Db::Sqlite { node, .. } = self {
            node.lock().unwrap().take();
        }
        self.node().await
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let Db::Postgres { url, schema } = self else {
            return;
        };
        let (url, schema) = (url.clone(), schema.clone());
        // Drop may run inside the test's runtime (or while a test panics): clean up on a
        // thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut conn = PgConnection::connect(&url).await.unwrap();
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    conn.close().await.unwrap();
                });
        });
        let _ = cleanup.join();
    }
}

/// Runs each behaviour against every backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::Db::postgres().await else {
                        return;
                    };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

conformance!(
    append_then_read_in_seq_order,
    read_filters_by_pattern,
    payloads_and_headers_round_trip,
    publishing_an_id_again_returns_the_stored_event,
    a_request_gets_consecutive_seqs,
    concurrent_nodes_never_expose_a_gap,
    another_nodes_appends_reach_head_on_refresh,
    the_log_survives_a_restart,
    retention_by_age_removes_the_oldest,
    retention_by_count_keeps_the_newest_per_topic,
    topics_keep_statistics,
    seq_before_finds_where_a_time_starts,
    events_at_returns_retained_events_in_order,
    subscriptions_round_trip,
    deliveries_round_trip,
    enqueue_is_atomic,
    keys_round_trip,
    queues_round_trip,
);

fn all() -> PatternSet {
    patterns(&[">"])
}

fn patterns(texts: &[&str]) -> PatternSet {
    PatternSet::parse(texts).unwrap().unwrap()
}

fn event(topic: &str, id: Option<&str>, json: &str) -> NewEvent {
    NewEvent {
        topic: Topic::parse(topic).unwrap(),
        id: id.map(str::to_owned),
        event_type: None,
        payload: Payload::Json(json.to_owned()),
        headers: Vec::new(),
    }
}

async fn append_one(node: &Node, topic: &str, json: &str) -> Arc<Event> {
    let mut appended = node
        .log
        .append(vec![event(topic, None, json)])
        .await
        .unwrap();
    assert!(appended[0].created);
    appended.remove(0).event
}

fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

async fn append_then_read_in_seq_order(db: &Db) {
    let node = db.node().await;
    assert_eq!(node.log.head(), 0);
    assert!(node.log.read(&all(), 0, 10).await.unwrap().is_empty());
    let mut live = node.bus.subscribe();
    let a = append_one(&node, "orders.1", r#"{"n":1}"#).await;
    let b = append_one(&node, "chat.lobby", r#"{"n":2}"#).await;
    let c = append_one(&node, "orders.2", r#"{"n":3}"#).await;
    assert_eq!(seqs(&[a.clone(), b.clone(), c.clone()]), [1, 2, 3]);
    assert_eq!(node.log.head(), 3);
    assert!(a.time_ms <= b.time_ms && b.time_ms <= c.time_ms);

    let read = node.log.read(&all(), 0, 10).await.unwrap();
    assert_eq!(seqs(&read), [1, 2, 3]);
    for (stored, appended) in read.iter().zip([&a, &b, &c]) {
        assert_eq!(stored.json(), appended.json());
        assert_eq!(
            stored.event_type, stored.topic,
            "the type defaults to the topic"
        );
    }
    assert_eq!(seqs(&node.log.read(&all(), 1, 1).await.unwrap()), [2]);
    assert_eq!(seqs(&node.log.read(&all(), 1, 10).await.unwrap()), [2, 3]);
    assert!(node.log.read(&all(), 3, 10).await.unwrap().is_empty());

    // The bus heard each new event once, in seq order.
    for want in 1..=3 {
        assert_eq!(live.recv().await.unwrap().seq, want);
    }
    node.log.close().await;
}

async fn read_filters_by_pattern(db: &Db) {
    let node = db.node().await;
    for topic in [
        "orders.1",
        "orders.2.items",
        "orders",
        "chat.lobby",
        "chat.room-7",
        "chat_x.lobby",
        "ordersx.1",
    ] {
        append_one(&node, topic, "null").await;
    }
    let topics_of = |events: Vec<Arc<Event>>| -> Vec<String> {
        events.iter().map(|e| e.topic.clone()).collect()
    };
    let read = |p: &'static [&'static str]| {
        let node = node.clone();
        async move { topics_of(node.log.read(&patterns(p), 0, 100).await.unwrap()) }
    };
    assert_eq!(read(&["orders.*"]).await, ["orders.1"]);
    assert_eq!(read(&["orders.>"]).await, ["orders.1", "orders.2.items"]);
    assert_eq!(read(&["orders"]).await, ["orders"]);
    assert_eq!(read(&["*.lobby"]).await, ["chat.lobby", "chat_x.lobby"]);
    assert_eq!(read(&["chat.room-7"]).await, ["chat.room-7"]);
    assert_eq!(read(&["*.*.items"]).await, ["orders.2.items"]);
    assert_eq!(read(&["*"]).await, ["orders"]);
    assert_eq!(
        read(&["orders", "chat.*"]).await,
        ["orders", "chat.lobby", "chat.room-7"]
    );
    assert_eq!(
        read(&["nothing.here", "neither"]).await,
        Vec::<String>::new()
    );
    assert_eq!(read(&[">"]).await.len(), 7);
    // `after` and `limit` apply to the matching events.
    let later = node
        .log
        .read(&patterns(&["orders.>", "chat.*"]), 2, 2)
        .await
        .unwrap();
    assert_eq!(topics_of(later), ["chat.lobby", "chat.room-7"]);
    node.log.close().await;
}

async fn payloads_and_headers_round_trip(db: &Db) {
    let node = db.node().await;
    let new = vec![
        NewEvent {
            topic: Topic::parse("kinds.json").unwrap(),
            id: Some("j-1".into()),
            event_type: Some("thing.happened".into()),
            payload: Payload::Json(r#"{"a":[1,2,{"b":"c"}]}"#.into()),
            headers: Vec::new(),
        },
        NewEvent {
            topic: Topic::parse("kinds.text").unwrap(),
            id: None,
            event_type: None,
            payload: Payload::Text {
                content_type: "text/plain".into(),
                text: "héllo\nworld".into(),
            },
            headers: vec![("x-a".into(), "1".into()), ("x-b".into(), "two".into())],
        },
        NewEvent {
            topic: Topic::parse("kinds.binary").unwrap(),
            id: None,
            event_type: None,
            payload: Payload::Binary {
                content_type: "application/octet-stream".into(),
                bytes: vec![0, 159, 146, 150, 0, 255],
            },
            headers: Vec::new(),
        },
    ];
    let appended = node.log.append(new).await.unwrap();
    let read = node.log.read(&all(), 0, 10).await.unwrap();
    assert_eq!(read.len(), 3);
    for (stored, appended) in read.iter().zip(&appended) {
        assert_eq!(stored.json(), appended.event.json());
        assert_eq!(stored.headers, appended.event.headers);
        assert_eq!(stored.time_ms, appended.event.time_ms);
    }
    assert_eq!(read[0].id, "j-1");
    assert_eq!(read[0].event_type, "thing.happened");
    assert_eq!(
        read[1].headers,
        [
            ("x-a".to_owned(), "1".to_owned()),
            ("x-b".to_owned(), "two".to_owned())
        ]
    );
    match &read[2].payload {
        Payload::Binary {
            content_type,
            bytes,
        } => {
            assert_eq!(content_type, "application/octet-stream");
            assert_eq!(bytes, &[0, 159, 146, 150, 0, 255]);
        }
        other => panic!("binary came back as {other:?}"),
    }
    node.log.close().await;
}

async fn publishing_an_id_again_returns_the_stored_event(db: &Db) {
    let node = db.node().await;
    let first = node
        .log
        .append(vec![event("pay.1", Some("charge-9"), r#"{"v":1}"#)])
        .await
        .unwrap();
    assert!(first[0].created);
    let mut live = node.bus.subscribe();
    // A retry, even with different data, returns the stored event and stores nothing.
    let again = node
        .log
        .append(vec![event("pay.1", Some("charge-9"), r#"{"v":2}"#)])
        .await
        .unwrap();
    assert!(!again[0].created);
    assert_eq!(again[0].event.seq, first[0].event.seq);
    assert_eq!(again[0].event.json(), first[0].event.json());
    assert_eq!(node.log.head(), 1);
    // The same id on another topic is another event.
    let other = node
        .log
        .append(vec![event("pay.2", Some("charge-9"), "1")])
        .await
        .unwrap();
    assert!(other[0].created);
    assert_eq!(other[0].event.seq, 2);
    // A request mixing old and new ids: only the new get seqs; a repeat within the request is
    // a retry of its first copy.
    let mixed = node
        .log
        .append(vec![
            event("pay.3", Some("x"), "1"),
            event("pay.1", Some("charge-9"), "0"),
            event("pay.3", Some("x"), "2"),
            event("pay.3", None, "3"),
        ])
        .await
        .unwrap();
    let created: Vec<bool> = mixed.iter().map(|a| a.created).collect();
    assert_eq!(created, [true, false, false, true]);
    let got: Vec<u64> = mixed.iter().map(|a| a.event.seq).collect();
    assert_eq!(got, [3, 1, 3, 4]);
    assert_eq!(mixed[2].event.json(), mixed[0].event.json());
    assert_eq!(
        seqs(&node.log.read(&all(), 0, 10).await.unwrap()),
        [1, 2, 3, 4]
    );
    // Only newly stored events were announced.
    let heard: Vec<u64> = [(); 3]
        .iter()
        .map(|_| live.try_recv().unwrap().seq)
        .collect();
    assert_eq!(heard, [2, 3, 4]);
    assert!(live.try_recv().is_err());
    node.log.close().await;
}

async fn a_request_gets_consecutive_seqs(db: &Db) {
    let node = db.node().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mut batches = Vec::new();
            for i in 0..10 {
                let batch: Vec<NewEvent> = (0..5)
                    .map(|j| event(&format!("batch.{t}"), None, &format!("{}", i * 5 + j)))
                    .collect();
                let appended = node.log.append(batch).await.unwrap();
                batches.push(appended.iter().map(|a| a.event.seq).collect::<Vec<_>>());
            }
            batches
        }));
    }
    let mut every = Vec::new();
    for task in tasks {
        for batch in task.await.unwrap() {
            assert_eq!(batch.len(), 5);
            assert!(
                batch.windows(2).all(|w| w[1] == w[0] + 1),
                "a request's seqs must be consecutive: {batch:?}"
            );
            every.extend(batch);
        }
    }
    every.sort_unstable();
    assert_eq!(every, (1..=400).collect::<Vec<u64>>());
    assert_eq!(node.log.head(), 400);
    node.log.close().await;
}

/// Two nodes append concurrently while a reader polls: every read continues exactly where the
/// last one stopped (no gap that is filled in later), and the reader sees every event.
async fn concurrent_nodes_never_expose_a_gap(db: &Db) {
    const WRITERS_PER_NODE: usize = 3;
    const REQUESTS: usize = 40;
    let nodes = [db.node().await, db.node().await];
    let reader = db.node().await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (reader, done) = (reader.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            let mut after = 0;
            let mut polls = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let events = reader.log.read(&all(), after, 1000).await.unwrap();
                polls += 1;
                for e in &events {
                    assert_eq!(
                        e.seq,
                        after + 1,
                        "after seq {after} the reader saw {}: a gap that may be filled later",
                        e.seq
                    );
                    after = e.seq;
                    seen.push(e.seq);
                }
                if finished && events.is_empty() {
                    return (seen, polls);
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS_PER_NODE {
            let node = node.clone();
            writers.push(tokio::spawn(async move {
                let mut stored = 0;
                for i in 0..REQUESTS {
                    let size = 1 + (i % 3);
                    let batch = (0..size)
                        .map(|k| event(&format!("node{n}.w{w}"), None, &format!("{k}")))
                        .collect();
                    let appended = node.log.append(batch).await.unwrap();
                    let s: Vec<u64> = appended.iter().map(|a| a.event.seq).collect();
                    assert!(s.windows(2).all(|p| p[1] == p[0] + 1), "{s:?}");
                    stored += s.len();
                }
                stored
            }));
        }
    }
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, polls) = poller.await.unwrap();
    assert!(polls > 1, "the reader must have polled while writers ran");
    assert_eq!(seen, (1..=total as u64).collect::<Vec<_>>());
    // Each node announced its own appends, in seq order.
    for node in &nodes {
        node.log.close().await;
    }
    reader.log.close().await;
}

async fn another_nodes_appends_reach_head_on_refresh(db: &Db) {
    let a = db.node().await;
    let b = db.node().await;
    assert_eq!(b.log.refresh_head().await.unwrap(), 0);
    for i in 0..3 {
        append_one(&a, "refresh.a", &i.to_string()).await;
    }
    assert_eq!(a.log.head(), 3);
    assert_eq!(b.log.refresh_head().await.unwrap(), 3);
    assert_eq!(b.log.head(), 3);
    // b's own next append follows a's.
    assert_eq!(append_one(&b, "refresh.b", "0").await.seq, 4);
    assert_eq!(a.log.refresh_head().await.unwrap(), 4);
    a.log.close().await;
    b.log.close().await;
}

async fn the_log_survives_a_restart(db: &Db) {
    let node = db.node().await;
    let first = node
        .log
        .append(vec![
            event("keep.1", Some("k"), "1"),
            event("keep.2", None, "2"),
        ])
        .await
        .unwrap();
    node.queues
        .enqueue(vec![NewQueueMessage {
            queue: "jobs".into(),
            message_id: "m-1".into(),
            content_type: None,
            body: Bytes::from_static(b"work"),
            headers: Vec::new(),
        }])
        .await
        .unwrap();
    let closed = node.clone();
    closed.log.close().await;
    assert!(matches!(
        closed.log.append(vec![event("keep.1", None, "3")]).await,
        Err(StoreError::Closed)
    ));
    let node = db.restart(node).await;
    assert_eq!(node.log.head(), 2);
    let read = node.log.read(&all(), 0, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].json(), first[0].event.json());
    let again = node
        .log
        .append(vec![event("keep.1", Some("k"), "9")])
        .await
        .unwrap();
    assert!(!again[0].created, "idempotency holds across a restart");
    assert_eq!(append_one(&node, "keep.2", "3").await.seq, 3);
    assert_eq!(node.queues.load_queues().await.unwrap().len(), 1);
    assert_eq!(node.log.topic("keep.1").await.unwrap().unwrap().events, 1);
    node.log.close().await;
}

async fn retention_by_age_removes_the_oldest(db: &Db) {
    let node = db.node().await;
    for i in 0..3 {
        append_one(&node, if i == 1 { "age.b" } else { "age.a" }, "0").await;
    }
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    append_one(&node, "age.a", "1").await;
    append_one(&node, "age.c", "1").await;
    let policy = RetentionPolicy {
        max_age_ms: 1_500,
        max_events_per_topic: None,
    };
    assert_eq!(node.log.enforce_retention(policy).await.unwrap(), 3);
    assert_eq!(seqs(&node.log.read(&all(), 0, 10).await.unwrap()), [4, 5]);
    let a = node.log.topic("age.a").await.unwrap().unwrap();
    assert_eq!((a.events, a.first_seq, a.last_seq), (1, Some(4), Some(4)));
    assert_eq!(a.removed_through, 3);
    let b = node.log.topic("age.b").await.unwrap().unwrap();
    assert_eq!((b.events, b.first_seq, b.removed_through), (0, None, 2));
    assert_eq!(b.last_seq, Some(2), "a topic remembers its last seq");
    assert_eq!(
        node.log
            .removed_through(&patterns(&["age.a"]))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["age.b"]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["age.*"]))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["age.c"]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["other"]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(node.log.enforce_retention(policy).await.unwrap(), 0);
    assert_eq!(node.log.head(), 5, "retention never lowers the head");
    assert_eq!(append_one(&node, "age.b", "2").await.seq, 6);
    let b = node.log.topic("age.b").await.unwrap().unwrap();
    assert_eq!((b.events, b.first_seq, b.last_seq), (1, Some(6), Some(6)));
    node.log.close().await;
}

async fn retention_by_count_keeps_the_newest_per_topic(db: &Db) {
    let node = db.node().await;
    // a: seqs 1, 2, 4, 5, 7; b: 3, 6.
    for topic in [
        "cnt.a", "cnt.a", "cnt.b", "cnt.a", "cnt.a", "cnt.b", "cnt.a",
    ] {
        append_one(&node, topic, "0").await;
    }
    let policy = RetentionPolicy {
        max_age_ms: 86_400_000,
        max_events_per_topic: Some(2),
    };
    assert_eq!(node.log.enforce_retention(policy).await.unwrap(), 3);
    let a = node.log.topic("cnt.a").await.unwrap().unwrap();
    assert_eq!((a.events, a.first_seq, a.last_seq), (2, Some(5), Some(7)));
    assert_eq!(a.removed_through, 4);
    let b = node.log.topic("cnt.b").await.unwrap().unwrap();
    assert_eq!((b.events, b.first_seq, b.removed_through), (2, Some(3), 0));
    assert_eq!(
        seqs(&node.log.read(&all(), 0, 10).await.unwrap()),
        [3, 5, 6, 7]
    );
    assert_eq!(
        seqs(&node.log.read(&patterns(&["cnt.a"]), 0, 10).await.unwrap()),
        [5, 7]
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["cnt.>"]))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        node.log
            .removed_through(&patterns(&["cnt.b"]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(node.log.enforce_retention(policy).await.unwrap(), 0);
    node.log.close().await;
}

async fn topics_keep_statistics(db: &Db) {
    let node = db.node().await;
    assert!(node.log.topics().await.unwrap().is_empty());
    let before = now_ms();
    append_one(&node, "stats.b", "0").await;
    node.log
        .append(vec![
            event("stats.a", None, "1"),
            event("stats.a", None, "2"),
        ])
        .await
        .unwrap();
    let last = append_one(&node, "stats.b", "3").await;
    let topics = node.log.topics().await.unwrap();
    let names: Vec<&str> = topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(names, ["stats.a", "stats.b"]);
    let a = &topics[0];
    assert_eq!((a.events, a.first_seq, a.last_seq), (2, Some(2), Some(3)));
    let b = &topics[1];
    assert_eq!((b.events, b.first_seq, b.last_seq), (2, Some(1), Some(4)));
    assert_eq!(b.last_published_ms, Some(last.time_ms));
    assert!(b.last_published_ms.unwrap() >= before);
    assert_eq!(b.removed_through, 0);
    let one = node.log.topic("stats.a").await.unwrap().unwrap();
    assert_eq!(one.events, 2);
    assert!(node.log.topic("stats.none").await.unwrap().is_none());
    node.log.close().await;
}

async fn seq_before_finds_where_a_time_starts(db: &Db) {
    let node = db.node().await;
    assert_eq!(node.log.seq_before(now_ms() + 1000).await.unwrap(), 0);
    let first = append_one(&node, "when.a", "1").await;
    append_one(&node, "when.a", "2").await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let boundary = now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let third = append_one(&node, "when.b", "3").await;
    assert!(third.time_ms >= boundary);
    assert_eq!(node.log.seq_before(boundary).await.unwrap(), 2);
    assert_eq!(node.log.seq_before(first.time_ms).await.unwrap(), 0);
    assert_eq!(node.log.seq_before(third.time_ms).await.unwrap(), 2);
    assert_eq!(node.log.seq_before(third.time_ms + 1).await.unwrap(), 3);
    // With the oldest events gone, a time before every retained event starts after them.
    let policy = RetentionPolicy {
        max_age_ms: 86_400_000,
        max_events_per_topic: Some(1),
    };
    assert_eq!(node.log.enforce_retention(policy).await.unwrap(), 1);
    assert_eq!(node.log.seq_before(first.time_ms).await.unwrap(), 1);
    node.log.close().await;
}

async fn events_at_returns_retained_events_in_order(db: &Db) {
    let node = db.node().await;
    for i in 0..5 {
        append_one(&node, "at.x", &i.to_string()).await;
    }
    let got = node.log.events_at(&[4, 2, 99]).await.unwrap();
    assert_eq!(seqs(&got), [2, 4]);
    assert!(node.log.events_at(&[]).await.unwrap().is_empty());
    node.log.close().await;
}

fn subscription(id: &str) -> Subscription {
    Subscription {
        id: id.into(),
        spec: Spec {
            url: "https://example.test/hook".into(),
            topics: vec!["orders.>".into()],
            types: vec!["order.shipped".into()],
            description: Some("a hook".into()),
            headers: [("x-team".to_owned(), "blue".to_owned())].into(),
            retry_schedule: vec![herald::config::Duration::from_secs(5)],
            timeout: herald::config::Duration::from_secs(15),
            rate_limit: Some(2.5),
            max_in_flight: 4,
            batch: None,
            ordered: true,
        },
        state: State::Enabled,
        disabled_reason: None,
        secret: "whsec_abc".into(),
        previous_secret: None,
        previous_secret_expires_ms: None,
        cursor: 0,
        failing_since_ms: None,
        created_ms: 1_700_000_000_000,
    }
}

fn delivery(id: &str, subscription_id: &str, seq: u64) -> Delivery {
    Delivery {
        id: id.into(),
        subscription_id: subscription_id.into(),
        msg_id: format!("evt-{seq}"),
        event_seqs: vec![seq],
        event_ids: vec![format!("evt-{seq}")],
        batch: false,
        status: Status::Pending,
        attempts: Vec::new(),
        next_attempt_ms: Some(1_700_000_000_500),
        created_ms: 1_700_000_000_000,
    }
}

async fn subscriptions_round_trip(db: &Db) {
    let node = db.node().await;
    let store = &node.webhooks;
    let mut first = subscription("sub_b");
    store.insert_subscription(&first).await.unwrap();
    store
        .insert_subscription(&subscription("sub_a"))
        .await
        .unwrap();
    assert!(
        store.insert_subscription(&first).await.is_err(),
        "ids are unique"
    );
    assert_eq!(store.subscription("sub_b").await.unwrap().unwrap(), first);
    assert!(store.subscription("sub_zz").await.unwrap().is_none());
    let ids: Vec<String> = store
        .subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["sub_a", "sub_b"]);

    first.state = State::Disabled;
    first.disabled_reason = Some("410 Gone".into());
    first.previous_secret = Some("whsec_old".into());
    first.previous_secret_expires_ms = Some(1_800_000_000_000);
    first.cursor = 42;
    first.failing_since_ms = Some(1_750_000_000_000);
    first.spec.batch = Some(herald::webhook::model::Batch {
        max_events: 10,
        max_wait_ms: 250,
    });
    assert!(store.save_subscription(&first).await.unwrap());
    assert_eq!(store.subscription("sub_b").await.unwrap().unwrap(), first);
    assert!(
        !store
            .save_subscription(&subscription("sub_zz"))
            .await
            .unwrap()
    );

    store.set_cursor("sub_b", 77).await.unwrap();
    assert_eq!(
        store.subscription("sub_b").await.unwrap().unwrap().cursor,
        77
    );
    node.log.close().await;
}

async fn deliveries_round_trip(db: &Db) {
    let node = db.node().await;
    let store = &node.webhooks;
    store
        .insert_subscription(&subscription("sub_1"))
        .await
        .unwrap();
    store
        .insert_subscription(&subscription("sub_2"))
        .await
        .unwrap();
    let d1 = delivery("dlv_01", "sub_1", 3);
    let mut d2 = delivery("dlv_02", "sub_1", 5);
    d2.batch = true;
    d2.event_seqs = vec![5, 6];
    d2.event_ids = vec!["evt-5".into(), "evt-6".into()];
    store
        .enqueue("sub_1", 6, &[d1.clone(), d2.clone()])
        .await
        .unwrap();
    store
        .enqueue("sub_2", 9, &[delivery("dlv_03", "sub_2", 9)])
        .await
        .unwrap();
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().cursor,
        6
    );
    assert_eq!(
        store.subscription("sub_2").await.unwrap().unwrap().cursor,
        9
    );
    assert_eq!(
        store.open_deliveries("sub_1").await.unwrap(),
        [d1.clone(), d2.clone()]
    );
    // Moving the cursor without deliveries (nothing matched).
    store.enqueue("sub_1", 8, &[]).await.unwrap();
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().cursor,
        8
    );

    let mut done = d1.clone();
    done.status = Status::Succeeded;
    done.next_attempt_ms = None;
    done.attempts = vec![Attempt {
        at_ms: 1_700_000_001_000,
        status_code: Some(200),
        latency_ms: 12,
        error: None,
        response_excerpt: Some("ok".into()),
        request_headers: vec![("webhook-id".into(), "msg_1".into())],
    }];
    store.save_delivery(&done).await.unwrap();
    assert_eq!(store.delivery("dlv_01").await.unwrap().unwrap(), done);
    assert!(store.delivery("dlv_99").await.unwrap().is_none());
    assert_eq!(store.open_deliveries("sub_1").await.unwrap(), [d2.clone()]);
    assert_eq!(
        store
            .deliveries("sub_1", Some(Status::Succeeded), 10)
            .await
            .unwrap(),
        [done.clone()]
    );
    assert_eq!(
        store.deliveries("sub_1", None, 10).await.unwrap(),
        [d2.clone(), done.clone()],
        "newest first"
    );
    assert_eq!(
        store.deliveries("sub_1", None, 1).await.unwrap(),
        [d2.clone()]
    );
    assert!(
        store
            .deliveries("sub_1", Some(Status::Dead), 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.delete_subscription("sub_1").await.unwrap());
    assert!(!store.delete_subscription("sub_1").await.unwrap());
    assert!(store.delivery("dlv_01").await.unwrap().is_none());
    assert!(store.open_deliveries("sub_1").await.unwrap().is_empty());
    assert_eq!(store.open_deliveries("sub_2").await.unwrap().len(), 1);
    node.log.close().await;
}

async fn enqueue_is_atomic(db: &Db) {
    let node = db.node().await;
    let store = &node.webhooks;
    store
        .insert_subscription(&subscription("sub_1"))
        .await
        .unwrap();
    store
        .enqueue("sub_1", 3, &[delivery("dlv_01", "sub_1", 3)])
        .await
        .unwrap();
    // The second delivery's id is taken: neither delivery is stored, nor the cursor moved.
    let failing = [
        delivery("dlv_02", "sub_1", 4),
        delivery("dlv_01", "sub_1", 5),
    ];
    assert!(store.enqueue("sub_1", 5, &failing).await.is_err());
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().cursor,
        3
    );
    assert!(store.delivery("dlv_02").await.unwrap().is_none());
    let open = store.open_deliveries("sub_1").await.unwrap();
    assert_eq!(open, [delivery("dlv_01", "sub_1", 3)]);
    // The store still works after the failed transaction.
    store
        .enqueue("sub_1", 5, &[delivery("dlv_02", "sub_1", 4)])
        .await
        .unwrap();
    assert_eq!(
        store.subscription("sub_1").await.unwrap().unwrap().cursor,
        5
    );
    node.log.close().await;
}

async fn keys_round_trip(db: &Db) {
    let node = db.node().await;
    let store = &node.keys;
    let key = |id: &str, created_ms| StoredKey {
        id: id.into(),
        hash: vec![0, 1, 2, 250, 255],
        scopes: vec!["publish:orders.>".into(), "subscribe:>".into()],
        description: Some("ci".into()),
        created_ms,
        revoked_ms: None,
    };
    store.insert_key(&key("key_b", 2)).await.unwrap();
    let mut a = key("key_a", 1);
    a.description = None;
    store.insert_key(&a).await.unwrap();
    let got = store.key("key_b").await.unwrap().unwrap();
    assert_eq!(
        (
            got.hash,
            got.scopes,
            got.description,
            got.created_ms,
            got.revoked_ms
        ),
        (
            vec![0, 1, 2, 250, 255],
            vec!["publish:orders.>".to_owned(), "subscribe:>".to_owned()],
            Some("ci".to_owned()),
            2,
            None
        )
    );
    assert!(store.key("key_zz").await.unwrap().is_none());
    let ids: Vec<String> = store
        .keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["key_a", "key_b"]);
    assert!(store.revoke_key("key_b", 99).await.unwrap());
    assert!(
        !store.revoke_key("key_b", 100).await.unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_key("key_zz", 100).await.unwrap());
    assert_eq!(
        store.key("key_b").await.unwrap().unwrap().revoked_ms,
        Some(99)
    );
    assert_eq!(store.key("key_a").await.unwrap().unwrap().revoked_ms, None);
    node.log.close().await;
}

async fn queues_round_trip(db: &Db) {
    let node = db.node().await;
    let store = &node.queues;
    assert!(store.load_queues().await.unwrap().is_empty());
    let message = |queue: &str, id: &str, body: &'static [u8]| NewQueueMessage {
        queue: queue.into(),
        message_id: id.into(),
        content_type: Some("application/octet-stream".into()),
        body: Bytes::from_static(body),
        headers: vec![("x-k".into(), id.into())],
    };
    let stored = store
        .enqueue(vec![
            message("jobs", "m1", b"one\0with nul"),
            message("mail", "m2", b"two"),
            message("jobs", "m3", b"three"),
        ])
        .await
        .unwrap();
    let rows: Vec<u64> = stored.iter().map(|m| m.row).collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows grow: {rows:?}");
    assert!(stored.iter().all(|m| !m.redelivered));
    let mut plain = message("jobs", "m4", b"four");
    plain.content_type = None;
    plain.headers.clear();
    let later = store.enqueue(vec![plain]).await.unwrap();
    assert!(later[0].row > rows[2]);

    let loaded = store.load_queues().await.unwrap();
    let ids: Vec<&str> = loaded.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
    assert_eq!(&loaded[0].body[..], b"one\0with nul");
    assert_eq!(loaded[0].queue, "jobs");
    assert_eq!(loaded[0].headers, [("x-k".to_owned(), "m1".to_owned())]);
    assert_eq!(
        loaded[0].content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(loaded[3].content_type, None);
    assert!(loaded[3].headers.is_empty());

    store.mark_delivered(vec![rows[0], rows[2]]).await.unwrap();
    store.remove(vec![rows[1]]).await.unwrap();
    let loaded = store.load_queues().await.unwrap();
    let state: Vec<(&str, bool)> = loaded
        .iter()
        .map(|m| (m.message_id.as_str(), m.redelivered))
        .collect();
    assert_eq!(state, [("m1", true), ("m3", true), ("m4", false)]);
    store
        .remove(vec![rows[0], rows[2], later[0].row])
        .await
        .unwrap();
    assert!(store.load_queues().await.unwrap().is_empty());
    node.log.close().await;
}

/// PostgreSQL only (SQLite stores what PostgreSQL text refuses): a request the database
/// refuses fails alone, even when it was grouped with others into one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_refused_request_fails_alone() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let node = db.node().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mut new = event("alone.t", None, &i.to_string());
            if i == 20 {
                // PostgreSQL text cannot hold NUL.
                new.payload = Payload::Text {
                    content_type: "text/plain\0".into(),
                    text: "x".into(),
                };
            }
            (i, node.log.append(vec![new]).await)
        }));
    }
    let mut stored = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (20, result) => assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}"),
            (_, result) => stored.push(result.unwrap()[0].event.seq),
        }
    }
    stored.sort_unstable();
    assert_eq!(stored, (1..=39).collect::<Vec<u64>>());
    assert_eq!(seqs(&node.log.read(&all(), 0, 100).await.unwrap()), stored);
    node.log.close().await;
}

/// PostgreSQL only (cluster mode shares STOMP queues through it): two nodes claiming at once
/// never get the same message; what is released comes back (redelivered when it had reached a
/// consumer); only the owner can release; renewed leases hold and expired ones are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_leases_are_exclusive_and_expire() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let (one, two) = (db.postgres_store().await, db.postgres_store().await);
    let message = |queue: &str, id: &str| NewQueueMessage {
        queue: queue.into(),
        message_id: id.into(),
        content_type: None,
        body: Bytes::from_static(b"x"),
        headers: Vec::new(),
    };
    let jobs: Vec<NewQueueMessage> = (1..=6).map(|i| message("jobs", &format!("j{i}"))).collect();
    QueueStore::enqueue(&one, jobs).await.unwrap();
    QueueStore::enqueue(&one, vec![message("mail", "m1")])
        .await
        .unwrap();
    let ids = |claimed: &[herald::store::queue::QueuedMessage]| -> BTreeSet<String> {
        claimed.iter().map(|m| m.message_id.clone()).collect()
    };
    let long = Duration::from_secs(60);

    let (a, b) = tokio::join!(
        one.claim("jobs", "one", 2, long),
        two.claim("jobs", "two", 10, long)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.len() <= 2, "{a:?}");
    assert!(ids(&a).is_disjoint(&ids(&b)), "claimed twice: {a:?} {b:?}");
    let rest = two.claim("jobs", "two", 10, long).await.unwrap();
    let mut all = ids(&a);
    all.extend(ids(&b));
    assert!(all.is_disjoint(&ids(&rest)));
    all.extend(ids(&rest));
    assert_eq!(all.len(), 6, "every job claimed once");
    assert!(one.claim("jobs", "one", 10, long).await.unwrap().is_empty());
    let mut owned_by_two: Vec<u64> = b.iter().chain(&rest).map(|m| m.row).collect();
    owned_by_two.sort_unstable();

    // Only the owner can release: one releasing two's rows changes nothing.
    one.release("one", owned_by_two.clone(), false)
        .await
        .unwrap();
    assert!(one.claim("jobs", "one", 10, long).await.unwrap().is_empty());
    // Released after reaching a consumer: free again, and redelivered.
    two.release("two", owned_by_two.clone(), true)
        .await
        .unwrap();
    let back = one.claim("jobs", "one", 10, long).await.unwrap();
    assert_eq!(back.iter().map(|m| m.row).collect::<Vec<_>>(), owned_by_two);
    assert!(back.iter().all(|m| m.redelivered), "{back:?}");

    // A renewed lease holds; one that ran out is free for another node.
    one.renew("one", long).await.unwrap();
    assert!(two.claim("jobs", "two", 10, long).await.unwrap().is_empty());
    one.renew("one", Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = two.claim("jobs", "two", 10, long).await.unwrap();
    assert_eq!(ids(&taken), all, "one's leases ran out: all six are two's");

    // A node shutting down frees everything it holds; other queues were never touched.
    two.release_all("two").await.unwrap();
    let freed = one.claim("jobs", "one", 10, long).await.unwrap();
    assert_eq!(freed.len(), taken.len());
    let mail = two.claim("mail", "two", 10, long).await.unwrap();
    assert_eq!(ids(&mail), BTreeSet::from(["m1".to_owned()]));
    one.close().await;
    two.close().await;
}
