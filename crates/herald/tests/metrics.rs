//! `/metrics` moves when traffic moves: publishes, live connections and messages per transport,
//! webhook attempts and queue depth.

mod common;

use common::receiver::Receiver;
use common::stomp::Client;
use common::{Stream, TestServer, client, publish, subscribe};
use serde_json::json;

/// The value of one sample (`name{labels}` exactly as exposed), 0 when absent.
async fn sample(url: &str, series: &str) -> f64 {
    let response = client().get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_move_when_traffic_moves() {
    let server =
        TestServer::start(|c| c.webhooks.allow_networks = vec!["127.0.0.0/8".into()]).await;
    let url = &server.url;
    let published = r#"herald_events_published_total{class="orders"}"#;
    assert_eq!(sample(url, published).await, 0.0);
    assert_eq!(
        sample(url, r#"herald_connections{transport="sse"}"#).await,
        0.0
    );

    let mut sse = Stream::open(url, "/v1/sse?topic=orders.*", &[]).await;
    let mut stomp = Client::tcp(server.stomp).await;
    stomp.connect(&[]).await;
    stomp.subscribe("1", "/topic/orders.>", &[]).await;
    let rx = Receiver::start().await;
    rx.always("/down", 500);
    subscribe(
        url,
        json!({"url": format!("{}/ok", rx.url), "topics": ["orders.*"]}),
    )
    .await;
    let failing = subscribe(url, json!({"url": format!("{}/down", rx.url), "topics": ["orders.*"], "retry_schedule": ["1h"]})).await;
    assert_eq!(
        sample(url, r#"herald_connections{transport="sse"}"#).await,
        1.0
    );
    assert_eq!(
        sample(url, r#"herald_connections{transport="stomp"}"#).await,
        1.0
    );

    for i in 0..3 {
        publish(url, "orders.1", &format!(r#"{{"data":{i}}}"#)).await;
    }
    sse.take_seqs(3).await;
    for _ in 0..3 {
        stomp.message().await;
    }
    rx.wait_for("/ok", 3).await;
    rx.wait_for("/down", 3).await;

    assert_eq!(sample(url, published).await, 3.0);
    assert_eq!(
        sample(url, r#"herald_event_data_bytes_total{class="orders"}"#).await,
        3.0,
        "one byte of data each"
    );
    assert_eq!(sample(url, "herald_log_head_seq").await, 3.0);
    assert_eq!(
        sample(url, r#"herald_messages_sent_total{transport="sse"}"#).await,
        3.0
    );
    assert_eq!(
        sample(url, r#"herald_messages_sent_total{transport="stomp"}"#).await,
        3.0
    );
    common::eventually(|| async {
        let ok = sample(url, r#"herald_webhook_attempts_total{outcome="succeeded"}"#).await == 3.0;
        let failed = sample(url, r#"herald_webhook_attempts_total{outcome="failed"}"#).await == 3.0;
        let depth = format!(
            r#"herald_webhook_queue_depth{{subscription="{}"}}"#,
            failing["id"].as_str().unwrap()
        );
        let queued = sample(url, &depth).await == 3.0;
        (ok && failed && queued).then_some(())
    })
    .await;
    assert_eq!(
        sample(url, "herald_webhook_attempt_duration_seconds_count").await,
        6.0
    );

    drop(sse);
    common::eventually(|| async {
        // The server notices the closed stream asynchronously.
        publish(url, "other", r#"{"data":0}"#).await;
        (sample(url, r#"herald_connections{transport="sse"}"#).await == 0.0).then_some(())
    })
    .await;
    server.stop().await;
}
