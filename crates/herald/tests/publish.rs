//! Publishing and reading over HTTP: the happy paths a producer and a polling reader rely on.

mod common;

use std::time::Duration;

use common::{TestServer, get, publish, seqs};
use serde_json::json;

#[tokio::test]
async fn publish_returns_the_stored_event() {
    let server = TestServer::start(|_| {}).await;
    let (status, event) = publish(
        &server.url,
        "orders.42",
        r#"{"type":"order.shipped","data":{"status":"shipped","n":1.50}}"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(event["topic"], "orders.42");
    assert_eq!(event["type"], "order.shipped");
    assert_eq!(event["seq"], 1);
    assert_eq!(event["data"], json!({"status": "shipped", "n": 1.50}));
    assert_eq!(
        event["id"].as_str().unwrap().len(),
        26,
        "a ULID is generated"
    );
    let time = event["time"].as_str().unwrap();
    assert!(
        time.ends_with('Z') && time.len() == 24,
        "RFC 3339 with milliseconds: {time}"
    );

    let (status, plain) = publish(&server.url, "orders.42", r#"{"data":"x"}"#).await;
    assert_eq!(status, 201);
    assert_eq!(plain["type"], "orders.42", "type defaults to the topic");
    assert_eq!(plain["seq"], 2);
    server.stop().await;
}

#[tokio::test]
async fn data_is_kept_byte_for_byte_apart_from_whitespace() {
    let server = TestServer::start(|_| {}).await;
    let body =
        "{\"data\": {\"big\": 123456789012345678901234567890, \"f\": 1.000, \"s\": \"a  b\\n\"}}";
    let response = common::client()
        .post(format!("{}/v1/topics/t/events", server.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""data":{"big":123456789012345678901234567890,"f":1.000,"s":"a  b\n"}"#),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_batch_is_appended_with_consecutive_seqs() {
    let server = TestServer::start(|_| {}).await;
    publish(&server.url, "other", r#"{"data":0}"#).await;
    let (status, events) = publish(
        &server.url,
        "orders.1",
        r#"[{"data":1},{"data":2,"type":"t"},{"data":3,"id":"a-3"}]"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(seqs(&events), vec![2, 3, 4]);
    assert_eq!(events[2]["id"], "a-3");
    let (status, _) = publish(&server.url, "orders.1", "[]").await;
    assert_eq!(status, 400, "an empty batch is refused");
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_id_returns_the_stored_event_and_stores_nothing() {
    let server = TestServer::start(|_| {}).await;
    let (status, first) = publish(&server.url, "pay", r#"{"id":"pay-1","data":{"v":1}}"#).await;
    assert_eq!(status, 201);
    let (status, again) = publish(&server.url, "pay", r#"{"id":"pay-1","data":{"v":2}}"#).await;
    assert_eq!(status, 200, "nothing new was stored");
    assert_eq!(
        again, first,
        "the stored event comes back, not the new body"
    );

    // The same id on another topic is another event.
    let (status, other) = publish(&server.url, "pay.other", r#"{"id":"pay-1","data":1}"#).await;
    assert_eq!(status, 201);
    assert_eq!(other["seq"], 2);

    // A batch with one new and one known id stores only the new one; a duplicate inside the
    // batch resolves to the event stored earlier in the same batch.
    let (status, batch) = publish(
        &server.url,
        "pay",
        r#"[{"id":"pay-1","data":0},{"id":"pay-2","data":0},{"id":"pay-2","data":9}]"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(seqs(&batch), vec![1, 3, 3]);
    let (status, batch) = publish(
        &server.url,
        "pay",
        r#"[{"id":"pay-1","data":0},{"id":"pay-2","data":0}]"#,
    )
    .await;
    assert_eq!(status, 200, "every id was already stored");
    assert_eq!(seqs(&batch), vec![1, 3]);

    let (_, _, read) = get(&server.url, "/v1/events?topic=pay&topic=pay.other").await;
    assert_eq!(
        seqs(&read["events"]),
        vec![1, 2, 3],
        "exactly three events stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn reading_filters_by_patterns_and_pages_with_next_after() {
    let server = TestServer::start(|_| {}).await;
    for topic in [
        "orders.1",
        "orders.2.lines",
        "users.1",
        "orders.3",
        "users.2.created",
    ] {
        publish(&server.url, topic, r#"{"data":null}"#).await;
    }
    let topics = |v: &serde_json::Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["topic"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, _, star) = get(&server.url, "/v1/events?topic=orders.*").await;
    assert_eq!(status, 200);
    assert_eq!(topics(&star), ["orders.1", "orders.3"]);
    let (_, _, rest) = get(&server.url, "/v1/events?topic=orders.%3E").await;
    assert_eq!(topics(&rest), ["orders.1", "orders.2.lines", "orders.3"]);
    let (_, _, several) = get(&server.url, "/v1/events?topic=users.1&topic=*.*.created").await;
    assert_eq!(topics(&several), ["users.1", "users.2.created"]);
    let (_, _, all) = get(&server.url, "/v1/events?topic=%3E&after=1&limit=2").await;
    assert_eq!(seqs(&all["events"]), vec![2, 3]);
    assert_eq!(all["next_after"], 3);
    let (_, _, next) = get(&server.url, "/v1/events?topic=%3E&after=3&limit=2").await;
    assert_eq!(seqs(&next["events"]), vec![4, 5]);
    let (_, _, none) = get(&server.url, "/v1/events?topic=%3E&after=5").await;
    assert_eq!(none, json!({"events": [], "next_after": 5}));
    server.stop().await;
}

#[tokio::test]
async fn long_poll_answers_as_soon_as_an_event_arrives() {
    let server = TestServer::start(|_| {}).await;
    publish(&server.url, "other", r#"{"data":0}"#).await;
    let url = server.url.clone();
    let poll =
        tokio::spawn(async move { get(&url, "/v1/events?topic=jobs.*&after=1&wait=30").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !poll.is_finished(),
        "nothing matching yet, so the poll waits"
    );
    publish(&server.url, "unrelated", r#"{"data":0}"#).await;
    publish(&server.url, "jobs.7", r#"{"data":"done"}"#).await;
    let (status, _, answer) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["events"][0]["data"], "done");
    assert_eq!(answer["next_after"], 3);
    server.stop().await;
}

#[tokio::test]
async fn long_poll_times_out_empty() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, answer) = get(&server.url, "/v1/events?topic=quiet&wait=1&after=0").await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"events": [], "next_after": 0}));
    server.stop().await;
}

#[tokio::test]
async fn topics_report_counts_and_last_publish() {
    let server = TestServer::start(|_| {}).await;
    publish(&server.url, "b.topic", r#"[{"data":1},{"data":2}]"#).await;
    publish(&server.url, "a.topic", r#"{"data":1}"#).await;
    let (status, _, list) = get(&server.url, "/v1/topics").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.topic", "b.topic"]);
    let (status, _, one) = get(&server.url, "/v1/topics/b.topic").await;
    assert_eq!(status, 200);
    assert_eq!(one["events"], 2);
    assert_eq!(one["first_seq"], 1);
    assert_eq!(one["last_seq"], 2);
    assert!(one["last_published_at"].as_str().unwrap().ends_with('Z'));
    let (status, ct, missing) = get(&server.url, "/v1/topics/never.used").await;
    assert_eq!(status, 404);
    assert_eq!(ct, "application/problem+json");
    assert_eq!(missing["type"], "urn:herald:problem:topic-not-found");
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, body) = get(&server.url, "/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, _, body) = get(&server.url, "/readyz").await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
    server.stop().await;
}
