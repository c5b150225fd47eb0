//! The `herald` binary on a PostgreSQL store: `herald migrate`, and two servers (two nodes)
//! sharing one log. Needs `HERALD_TEST_POSTGRES_URL`; without it each test says it skipped.

mod common;

use std::process::Command;

use common::{PgSchema, Process, get, publish, seqs};

async fn schema() -> Option<PgSchema> {
    let schema = PgSchema::create().await;
    if schema.is_none() {
        println!("skipped: HERALD_TEST_POSTGRES_URL is not set");
    }
    schema
}

/// Runs `herald migrate` with `HERALD_STORE=store`; returns whether it succeeded and its output.
fn migrate(store: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_herald"), "migrate", "--data-dir"])
        .arg(dir.path())
        .env("HERALD_STORE", store)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn herald_migrate_applies_the_schema_once() {
    let Some(schema) = schema().await else {
        return;
    };
    let (ok, out) = migrate(&schema.store_url());
    assert!(ok, "{out}");
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert!(
        out.contains(&format!("applied {migrations} migration(s)")),
        "{out}"
    );
    let (ok, out) = migrate(&schema.store_url());
    assert!(ok, "{out}");
    assert!(out.contains("applied 0 migration(s)"), "{out}");

    let (ok, out) = migrate("mysql://root:hunter2@127.0.0.1/x");
    assert!(!ok);
    assert!(out.contains("not a known store"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    // A database that is not there: the error says what failed.
    let (ok, out) = migrate("postgres://postgres@127.0.0.1:1/test");
    assert!(!ok);
    assert!(out.contains("cannot connect to PostgreSQL"), "{out}");
}

#[tokio::test]
async fn two_servers_share_one_log_and_it_survives_kill_9() {
    let Some(schema) = schema().await else {
        return;
    };
    let store = schema.store_url();
    let envs = [("HERALD_STORE", store.as_str())];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Process::serve(dir_a.path(), &envs);
    let b = Process::serve(dir_b.path(), &envs);

    // Publishing alternately to the two nodes: one sequence across both.
    for i in 1..=10u64 {
        let node = if i % 2 == 1 { &a } else { &b };
        let (status, event) = publish(&node.url, "shared.t", r#"{"data":1}"#).await;
        assert_eq!(status, 201);
        assert_eq!(event["seq"], i);
    }
    // Each node reads every node's events.
    for node in [&a, &b] {
        let (status, _, read) = get(&node.url, "/v1/events?topic=%3E").await;
        assert_eq!(status, 200);
        assert_eq!(seqs(&read["events"]), (1..=10).collect::<Vec<u64>>());
    }
    // An id stored through one node is a retry on the other.
    let (status, first) = publish(&a.url, "shared.t", r#"{"id":"once","data":1}"#).await;
    assert_eq!(status, 201);
    let (status, again) = publish(&b.url, "shared.t", r#"{"id":"once","data":2}"#).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    let (_, _, topic) = get(&b.url, "/v1/topics/shared.t").await;
    assert_eq!(topic["events"], 11);

    a.signal("-9");
    let a = Process::serve(dir_a.path(), &envs);
    let (_, _, read) = get(&a.url, "/v1/events?topic=%3E").await;
    assert_eq!(seqs(&read["events"]), (1..=11).collect::<Vec<u64>>());
    let (status, event) = publish(&a.url, "shared.t", r#"{"data":3}"#).await;
    assert_eq!(status, 201);
    assert_eq!(event["seq"], 12);
    drop(b);
    drop(a);
}
