//! Per-caller limits: publish rate (429 with Retry-After) and long-lived connections per key
//! and per IP, over HTTP streams and STOMP.

mod common;

use std::time::Duration;

use common::stomp::Client;
use common::{Stream, TestServer, client};
use herald_codec::stomp::{Command, Frame};
use serde_json::Value;

const ADMIN: &str = "admin-key-for-tests-0123456789";

async fn key(url: &str, scopes: &[&str]) -> String {
    common::create_key(url, ADMIN, scopes).await.1
}

#[tokio::test]
async fn a_key_over_its_publish_rate_gets_429_with_retry_after() {
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.limits.publish_rate = 1;
        c.limits.publish_burst = 5;
    })
    .await;
    let publisher = key(&server.url, &["publish:t"]).await;
    let post = |body: &'static str| {
        client()
            .post(format!("{}/v1/topics/t/events", server.url))
            .bearer_auth(&publisher)
            .body(body)
            .send()
    };
    assert_eq!(
        post(r#"[{"data":1},{"data":2},{"data":3}]"#)
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post(r#"[{"data":4},{"data":5}]"#).await.unwrap().status(),
        201,
        "the burst is five"
    );
    let refused = post(r#"{"data":6}"#).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let problem: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(problem["type"], "urn:herald:problem:rate-limited");
    // Another key has its own bucket.
    let other = key(&server.url, &["publish:t"]).await;
    let response = client()
        .post(format!("{}/v1/topics/t/events", server.url))
        .bearer_auth(&other)
        .body(r#"{"data":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    server.stop().await;
}

#[tokio::test]
async fn long_lived_connections_are_capped_per_key_and_released_when_they_end() {
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.limits.connections_per_key = 2;
        // Quick keep-alives, so the server notices a closed stream at once.
        c.streams.keepalive = "20ms".parse().unwrap();
    })
    .await;
    let reader = key(&server.url, &["subscribe:>"]).await;
    let path = format!("/v1/stream?topic=a&token={reader}");
    let first = Stream::open(&server.url, &path, &[]).await;
    let second = Stream::open(&server.url, &format!("/v1/sse?topic=b&token={reader}"), &[]).await;
    assert_eq!((first.status, second.status), (200, 200));
    let third = Stream::open(&server.url, &path, &[]).await;
    assert_eq!(third.status, 429, "a third stream for the same key");
    let poll = client()
        .get(format!("{}/v1/events?topic=a&wait=5", server.url))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), 429, "a waiting long-poll counts too");
    let (status, _, _) = common::get(&server.url, "/healthz").await;
    assert_eq!(status, 200);

    drop(first);
    common::eventually(|| async {
        (Stream::open(&server.url, &path, &[]).await.status == 200).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn stomp_connections_are_capped_per_ip() {
    let server = TestServer::start(|c| c.limits.connections_per_ip = 1).await;
    let mut first = Client::tcp(server.stomp).await;
    first.connect(&[]).await;
    let mut second = Client::tcp(server.stomp).await;
    second
        .send(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.2")
                .with_header("host", "h"),
        )
        .await;
    let error = second.expect_error_and_close().await;
    assert_eq!(error.header("message"), Some("too many connections"));
    assert!(String::from_utf8_lossy(&error.body).contains("connections_per_ip"));
    // The first connection is unaffected.
    first.subscribe("1", "/topic/x", &[]).await;
    first.publish("/topic/x", "{}", &[]).await;
    assert_eq!(
        first.message().await.header("destination"),
        Some("/topic/x")
    );
    // Once it closes, its place is free again (the server notices the close asynchronously).
    drop(first);
    let mut admitted = false;
    for _ in 0..200 {
        let mut next = Client::tcp(server.stomp).await;
        next.send(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.2")
                .with_header("host", "h"),
        )
        .await;
        if next.frame().await.command == Command::Connected {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admitted, "the freed place was given to a new connection");
    server.stop().await;
}
