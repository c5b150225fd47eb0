//! Cluster mode: three `herald serve` processes on one PostgreSQL store and one NATS bus.
//! Needs `HERALD_TEST_POSTGRES_URL` and `HERALD_TEST_NATS_URL` (`.ci/run` sets both); without
//! them each test says it skipped.

mod common;

use common::stomp::{Client, seq};
use common::{PgSchema, Process, Stream, publish};

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
