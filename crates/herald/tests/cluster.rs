//! Cluster mode: three `herald serve` processes on one PostgreSQL store and one NATS bus.
//! Needs `HERALD_TEST_POSTGRES_URL` and `HERALD_TEST_NATS_URL` (`.ci/run` sets both); without
//! them each test says it skipped.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::receiver::Receiver;
use common::stomp::{Client, Next, seq};
use common::{PgSchema, Process, Stream, get, publish, send_json};
use herald_codec::stomp::{Command, Frame};
use serde_json::json;

/// A fresh schema and NATS subject prefix, as `herald serve` environment; `None` (and a note)
/// when the services are not configured.
async fn cluster_env() -> Option<(PgSchema, Vec<(String, String)>)> {
    let Ok(nats) = std::env::var("HERALD_TEST_NATS_URL") else {
        println!("skipped: HERALD_TEST_NATS_URL is not set");
        return None;
    };
    let Some(schema) = PgSchema::create().await else {
        println!("skipped: HERALD_TEST_POSTGRES_URL is not set");
        return None;
    };
    let env = vec![
        ("HERALD_STORE".to_owned(), schema.store_url()),
        ("HERALD_BUS".to_owned(), nats),
        ("HERALD_BUS_PREFIX".to_owned(), schema.name.clone()),
    ];
    Some((schema, env))
}

fn node(dir: &tempfile::TempDir, env: &[(String, String)]) -> Process {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Process::serve(dir.path(), &env)
}

/// Publishing on two nodes, an SSE reader on a second and a STOMP subscriber on a third get
/// everything, in seq order; a reader that reconnects to another node resumes where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_log_live() {
    let Some((_schema, env)) = cluster_env().await else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, c) = (
        node(&dirs[0], &env),
        node(&dirs[1], &env),
        node(&dirs[2], &env),
    );

    let mut sse = Stream::open(&b.url, "/v1/sse?topic=orders.%3E", &[]).await;
    assert_eq!(sse.status, 200);
    let mut stomp = Client::tcp(c.stomp).await;
    stomp.connect(&[]).await;
    stomp.subscribe("s", "/topic/orders.>", &[]).await;

    // Published alternately through A and C, concurrently from two tasks.
    let publish_on = |url: String, n: usize| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..n {
                let (status, event) =
                    publish(&url, &format!("orders.{}", i % 3), r#"{"data":1}"#).await;
                assert_eq!(status, 201);
                seqs.push(event["seq"].as_u64().unwrap());
            }
            seqs
        })
    };
    let (from_a, from_c) = (publish_on(a.url.clone(), 60), publish_on(c.url.clone(), 60));
    let mut all: Vec<u64> = from_a.await.unwrap();
    all.extend(from_c.await.unwrap());
    all.sort_unstable();
    assert_eq!(all, (1..=120).collect::<Vec<u64>>(), "one dense sequence");

    assert_eq!(
        sse.take_seqs(120).await,
        all,
        "SSE on B: everything, in order"
    );
    let mut over_stomp = Vec::new();
    while over_stomp.len() < 120 {
        over_stomp.push(seq(&stomp.message().await));
    }
    assert_eq!(over_stomp, all, "STOMP on C: everything, in order");

    // The SSE reader moves from B to A with Last-Event-ID; meanwhile C publishes more.
    drop(sse);
    let more = publish_on(c.url.clone(), 30).await.unwrap();
    let last = all.last().unwrap().to_string();
    let mut resumed = Stream::open(
        &a.url,
        "/v1/sse?topic=orders.%3E",
        &[("last-event-id", &last)],
    )
    .await;
    assert_eq!(
        resumed.take_seqs(30).await,
        more,
        "nothing lost, nothing repeated"
    );
    let live = publish_on(b.url.clone(), 5).await.unwrap();
    assert_eq!(resumed.take_seqs(5).await, live, "and live after that");
}

/// Whether a node leads webhook delivery, from its metrics.
async fn leads(node: &Process) -> bool {
    let response = common::client()
        .get(format!("{}/metrics", node.url))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    text.lines().any(|l| l == "herald_webhook_leader 1")
}

/// The webhook API answers on every node (the others forward to the leader); each event is
/// delivered once while nothing fails; when the leader is killed (`kill -9`) during sustained
/// publishing and delivery, no acknowledged event is lost and every one is delivered at least
/// once, by the survivor that takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_once_and_survive_the_leader() {
    let Some((_schema, mut env)) = cluster_env().await else {
        return;
    };
    env.push((
        "HERALD_WEBHOOKS__ALLOW_NETWORKS".into(),
        "127.0.0.0/8".into(),
    ));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Option<Process>> = dirs.iter().map(|d| Some(node(d, &env))).collect();
    let rx = Receiver::start().await;
    rx.always("/hook", 200);

    // One node leads; the subscription is created through one that does not (forwarded).
    let leader = common::eventually(|| async {
        for (i, node) in nodes.iter().enumerate() {
            if leads(node.as_ref().unwrap()).await {
                return Some(i);
            }
        }
        None
    })
    .await;
    let follower = (leader + 1) % 3;
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().url.clone())
        .collect();
    let url = |i: usize| urls[i].clone();
    let (status, sub) = send_json(
        "POST",
        &format!("{}/v1/subscriptions", url(follower)),
        Some(json!({"url": format!("{}/hook", rx.url), "topics": ["jobs.*"]})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let id = sub["id"].as_str().unwrap().to_owned();
    // Every node shows it.
    for i in 0..3 {
        let (status, _, got) = get(&url(i), &format!("/v1/subscriptions/{id}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["id"], id.as_str());
    }

    let mut published = BTreeSet::new();
    for i in 0..30 {
        let (status, event) = publish(&url(i % 3), "jobs.a", r#"{"data":1}"#).await;
        assert_eq!(status, 201);
        published.insert(event["id"].as_str().unwrap().to_owned());
    }
    let hits = rx.wait_for("/hook", 30).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = if rx.hits("/hook").len() > hits.len() {
        rx.hits("/hook")
    } else {
        hits
    };
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for hit in &hits {
        *per_id.entry(hit.header("webhook-id")).or_default() += 1;
    }
    assert_eq!(hits.len(), 30, "each event once: {per_id:?}");
    assert_eq!(per_id.keys().cloned().collect::<BTreeSet<_>>(), published);

    // Sustained publishing on all three nodes while the endpoint is slow, so deliveries are
    // pending and in flight when the leader is killed.
    rx.delay(Duration::from_millis(20));
    let publishers: Vec<_> = (0..3)
        .map(|i| {
            let url = url(i);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for _ in 0..40 {
                    let response = common::client()
                        .post(format!("{url}/v1/topics/jobs.b/events"))
                        .body(r#"{"data":2}"#)
                        .send()
                        .await;
                    // A node that died acknowledges nothing more.
                    let Ok(response) = response else { break };
                    let created = response.status() == 201;
                    let Ok(body) = response.bytes().await else {
                        break;
                    };
                    if created {
                        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        acknowledged.push(event["id"].as_str().unwrap().to_owned());
                    }
                }
                acknowledged
            })
        })
        .collect();
    rx.wait_for("/hook", 40).await;
    nodes[leader].take().unwrap().signal("-9");
    for publisher in publishers {
        published.extend(publisher.await.unwrap());
    }
    assert!(
        published.len() >= 30 + 80,
        "the survivors kept acknowledging"
    );
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // No acknowledged event is lost from the log...
    let (_, _, read) = get(&url(survivors[0]), "/v1/events?topic=jobs.%3E&limit=1000").await;
    let stored: BTreeSet<String> = read["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        stored.is_superset(&published),
        "an acknowledged event is missing"
    );
    // ...and every one is delivered at least once, by the survivor that took over.
    common::eventually(|| async {
        let ids: BTreeSet<String> = rx
            .hits("/hook")
            .iter()
            .map(|h| h.header("webhook-id"))
            .collect();
        ids.is_superset(&published).then_some(())
    })
    .await;
    let mut new_leaders = 0;
    for &i in &survivors {
        new_leaders += usize::from(leads(nodes[i].as_ref().unwrap()).await);
    }
    assert_eq!(new_leaders, 1, "exactly one survivor leads");
}

/// A queue's consumers on two nodes share its messages: each message goes to exactly one of
/// them; a NACKed message comes back redelivered; when a node holding unacknowledged messages
/// is killed (`kill -9`), they return to the surviving consumer, marked redelivered, once the
/// dead node's lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_are_shared_between_nodes() {
    let Some((_schema, env)) = cluster_env().await else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, mut c) = (
        node(&dirs[0], &env),
        node(&dirs[1], &env),
        Some(node(&dirs[2], &env)),
    );
    let body = |m: &Frame| String::from_utf8_lossy(&m.body).into_owned();
    let individual = [("ack", "client-individual"), ("prefetch-count", "5")];
    let mut on_b = Client::tcp(b.stomp).await;
    on_b.connect(&[]).await;
    on_b.subscribe("b", "/queue/jobs", &individual).await;
    let mut on_c = Client::tcp(c.as_ref().unwrap().stomp).await;
    on_c.connect(&[]).await;
    on_c.subscribe("c", "/queue/jobs", &individual).await;

    let mut producer = Client::tcp(a.stomp).await;
    producer.connect(&[]).await;
    for i in 0..20 {
        producer
            .publish("/queue/jobs", &format!("job-{i}"), &[])
            .await;
    }
    // Both consumers fill their prefetch from the shared queue; nobody gets a message twice.
    let mut first_b = Vec::new();
    let mut first_c = Vec::new();
    for _ in 0..5 {
        first_b.push(on_b.message().await);
        first_c.push(on_c.message().await);
    }
    let mut seen = BTreeSet::new();
    for m in first_b.iter().chain(&first_c) {
        assert_eq!(m.header("redelivered"), Some("false"));
        assert!(seen.insert(body(m)), "{} delivered twice", body(m));
    }
    on_b.expect_silence(Duration::from_millis(300)).await;

    // B rejects one: it goes back to the store and returns, marked redelivered (C is full).
    let rejected = first_b.pop().unwrap();
    on_b.send(Frame::new(Command::Nack).with_header("id", rejected.header("ack").unwrap()))
        .await;
    let again = on_b.message().await;
    assert_eq!(body(&again), body(&rejected));
    assert_eq!(again.header("redelivered"), Some("true"));
    first_b.push(again);

    // C dies holding five unacknowledged messages; B acknowledges everything it gets, and gets
    // the rest of the queue, C's five included once C's lease has expired.
    c.take().unwrap().signal("-9");
    let held_by_c: BTreeSet<String> = first_c.iter().map(body).collect();
    let mut done = BTreeSet::new();
    let mut redelivered_from_c = BTreeSet::new();
    let mut pending = first_b;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while done.len() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 20 done",
            done.len()
        );
        for m in pending.drain(..) {
            if held_by_c.contains(&body(&m)) {
                assert_eq!(m.header("redelivered"), Some("true"), "{m:?}");
                redelivered_from_c.insert(body(&m));
            }
            assert!(done.insert(body(&m)), "{} acknowledged twice", body(&m));
            on_b.send(Frame::new(Command::Ack).with_header("id", m.header("ack").unwrap()))
                .await;
        }
        if let Next::Frame(m) = on_b.next(Duration::from_secs(15)).await {
            assert_eq!(m.command, Command::Message, "{m:?}");
            pending.push(m);
        }
    }
    assert_eq!(redelivered_from_c, held_by_c);
    assert_eq!(
        done,
        (0..20).map(|i| format!("job-{i}")).collect::<BTreeSet<_>>()
    );
    on_b.expect_silence(Duration::from_millis(300)).await;
}
