//! SSE and NDJSON streams: replay then live with no gap or duplicate, resume, ordering under
//! concurrency, slow consumers, keep-alives and retention.

mod common;

use std::collections::BTreeSet;

use common::{Item, Stream, TestServer, get, publish, publish_many};

#[tokio::test]
async fn sse_replays_then_goes_live_without_gap_or_duplicate() {
    let server = TestServer::start(|_| {}).await;
    publish_many(&server.url, "feed", 50).await;
    let mut sse = Stream::open(&server.url, "/v1/sse?topic=feed&after=20", &[]).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.content_type, "text/event-stream");
    assert_eq!(
        sse.next_item().await,
        Some(Item::Retry(2000)),
        "the retry hint comes first"
    );
    // Publish while the replay is being read, so live events race the catch-up.
    let url = server.url.clone();
    let publisher = tokio::spawn(async move { publish_many(&url, "feed", 50).await });
    let got = sse.take_seqs(80).await;
    assert_eq!(got, (21..=100).collect::<Vec<u64>>());
    publisher.await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn last_event_id_wins_over_after() {
    let server = TestServer::start(|_| {}).await;
    publish_many(&server.url, "feed", 10).await;
    let mut sse = Stream::open(
        &server.url,
        "/v1/sse?topic=feed&after=2",
        &[("last-event-id", "7")],
    )
    .await;
    assert_eq!(sse.take_seqs(3).await, vec![8, 9, 10]);
    let mut ndjson = Stream::open(
        &server.url,
        "/v1/stream?topic=feed&after=2",
        &[("last-event-id", "8")],
    )
    .await;
    assert_eq!(ndjson.content_type, "application/x-ndjson");
    assert_eq!(ndjson.take_seqs(2).await, vec![9, 10]);
    server.stop().await;
}

#[tokio::test]
async fn without_a_cursor_a_stream_starts_with_new_events() {
    let server = TestServer::start(|_| {}).await;
    publish_many(&server.url, "feed", 5).await;
    let mut ndjson = Stream::open(&server.url, "/v1/stream?topic=feed", &[]).await;
    publish(&server.url, "feed", r#"{"data":"new"}"#).await;
    let event = ndjson.next_event().await.unwrap();
    assert_eq!(
        (event["seq"].as_u64(), event["data"].as_str()),
        (Some(6), Some("new"))
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_streams_get_keep_alives() {
    let server = TestServer::start(|c| c.streams.keepalive = "50ms".parse().unwrap()).await;
    let mut sse = Stream::open(&server.url, "/v1/sse?topic=quiet", &[]).await;
    assert_eq!(sse.next_item().await, Some(Item::Retry(2000)));
    assert_eq!(
        sse.next_item().await,
        Some(Item::KeepAlive("keep-alive".into()))
    );
    let mut ndjson = Stream::open(&server.url, "/v1/stream?topic=quiet", &[]).await;
    assert_eq!(
        ndjson.next_item().await,
        Some(Item::KeepAlive(String::new()))
    );
    server.stop().await;
}

/// Keep-alives fill silence only: while events flow faster than the keep-alive period none is
/// sent, and once the stream falls quiet the next one comes a period after the last event.
#[tokio::test]
async fn busy_streams_get_no_keep_alives_until_they_fall_quiet() {
    let server = TestServer::start(|c| c.streams.keepalive = "2s".parse().unwrap()).await;
    let mut sse = Stream::open(&server.url, "/v1/sse?topic=busy", &[]).await;
    assert_eq!(sse.next_item().await, Some(Item::Retry(2000)));
    let start = tokio::time::Instant::now();
    for i in 0..25 {
        publish(&server.url, "busy", &format!(r#"{{"data":{i}}}"#)).await;
        match sse.next_item().await {
            Some(Item::Event(e)) => assert_eq!(e["data"], i),
            other => panic!("expected event {i}, got {other:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(start.elapsed() > std::time::Duration::from_millis(2500));
    let quiet = tokio::time::Instant::now();
    assert_eq!(
        sse.next_item().await,
        Some(Item::KeepAlive("keep-alive".into()))
    );
    assert!(quiet.elapsed() > std::time::Duration::from_millis(1500));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_publishers_every_reader_sees_strictly_increasing_seqs_with_none_missing() {
    let server = TestServer::start(|_| {}).await;
    const PUBLISHERS: usize = 6;
    const EACH: usize = 60;
    let mut readers = vec![
        (
            "all",
            Stream::open(&server.url, "/v1/sse?topic=load.%3E&after=0", &[]).await,
        ),
        (
            "one topic",
            Stream::open(&server.url, "/v1/stream?topic=load.3", &[]).await,
        ),
        (
            "two patterns",
            Stream::open(&server.url, "/v1/stream?topic=load.1&topic=load.*.x", &[]).await,
        ),
    ];
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let url = server.url.clone();
        publishers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..EACH {
                // Every third publish is a small batch, on a deeper topic.
                let (topic, body) = if i % 3 == 0 {
                    (
                        format!("load.{p}.x"),
                        r#"[{"data":1},{"data":2}]"#.to_owned(),
                    )
                } else {
                    (format!("load.{p}"), format!(r#"{{"data":{i}}}"#))
                };
                let (status, answer) = publish(&url, &topic, &body).await;
                assert_eq!(status, 201);
                let events = if answer.is_array() {
                    answer.as_array().unwrap().clone()
                } else {
                    vec![answer]
                };
                acked.extend(
                    events
                        .into_iter()
                        .map(|e| (e["seq"].as_u64().unwrap(), topic.clone())),
                );
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for p in publishers {
        acked.extend(p.await.unwrap());
    }
    let wanted = |name: &str, topic: &str| match name {
        "all" => true,
        "one topic" => topic == "load.3",
        _ => topic == "load.1" || (topic.starts_with("load.") && topic.ends_with(".x")),
    };
    for (name, reader) in &mut readers {
        let expected: BTreeSet<u64> = acked
            .iter()
            .filter(|(_, t)| wanted(name, t))
            .map(|(s, _)| *s)
            .collect();
        let got = reader.take_seqs(expected.len()).await;
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{name}: seqs strictly increase"
        );
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{name}: none missing, none extra"
        );
    }
    // The long-poll reader agrees with the streams.
    let (_, _, page) = get(&server.url, "/v1/events?topic=load.3&limit=1000").await;
    assert_eq!(page["events"].as_array().unwrap().len(), EACH * 2 / 3);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_reader_does_not_hold_anyone_back_and_catches_up_from_the_log() {
    // A tiny live ring, so the stalled reader overflows it for sure.
    let server = TestServer::start(|c| c.streams.buffer = 16).await;
    // Opened but not read: the client stops pulling from its socket, as a stuck consumer would.
    let mut stalled = Stream::open(&server.url, "/v1/stream?topic=big&after=0", &[]).await;
    let mut healthy = Stream::open(&server.url, "/v1/sse?topic=big&after=0", &[]).await;

    // ~8 MB of events: far more than the socket buffers, so the stalled reader's server side
    // blocks on write while the publisher goes on.
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 100;
    let payload = "p".repeat(2000);
    let batch = format!(
        "[{}]",
        vec![format!(r#"{{"data":"{payload}"}}"#); PER_BATCH].join(",")
    );
    let url = server.url.clone();
    let publisher = tokio::spawn(async move {
        for _ in 0..BATCHES {
            let (status, _) = publish(&url, "big", &batch).await;
            assert_eq!(status, 201);
        }
    });
    let total = BATCHES * PER_BATCH;
    let got = healthy.take_seqs(total).await;
    assert_eq!(
        got,
        (1..=total as u64).collect::<Vec<_>>(),
        "the healthy reader got everything while the other stalled"
    );
    publisher.await.unwrap();
    assert!(
        server.log.stats().fallbacks() > 0,
        "the stalled reader overflowed the live ring"
    );

    // Now the stalled reader reads: everything arrives, in order, from the log.
    assert_eq!(
        stalled.take_seqs(total).await,
        (1..=total as u64).collect::<Vec<_>>()
    );
    server.stop().await;
}

#[tokio::test]
async fn readers_are_told_when_retention_removed_what_they_asked_for() {
    let server = TestServer::start(|c| {
        c.retention.max_events_per_topic = 3;
        c.retention.interval = "20ms".parse().unwrap();
    })
    .await;
    publish_many(&server.url, "kept", 8).await;
    // Wait (bounded) for the background retention pass to trim the topic.
    for _ in 0..500 {
        let (_, _, topic) = get(&server.url, "/v1/topics/kept").await;
        if topic["events"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (_, _, topic) = get(&server.url, "/v1/topics/kept").await;
    assert_eq!(
        (topic["events"].as_u64(), topic["first_seq"].as_u64()),
        (Some(3), Some(6))
    );

    let (status, ct, problem) = get(&server.url, "/v1/events?topic=kept&after=2").await;
    assert_eq!((status, ct.as_str()), (410, "application/problem+json"));
    assert_eq!(problem["type"], "urn:herald:problem:events-expired");
    assert_eq!(problem["resume_after"], 5);
    let sse = Stream::open(&server.url, "/v1/sse?topic=k*&after=1", &[]).await;
    assert_eq!(sse.status, 400, "k* is not a pattern");
    let sse = Stream::open(&server.url, "/v1/sse?topic=*&after=1", &[]).await;
    assert_eq!(sse.status, 410, "streams are told too");

    // From the oldest retained, or from the point retention names, reading works.
    let (_, _, from_start) = get(&server.url, "/v1/events?topic=kept").await;
    assert_eq!(common::seqs(&from_start["events"]), vec![6, 7, 8]);
    let mut resumed = Stream::open(&server.url, "/v1/stream?topic=kept&after=5", &[]).await;
    assert_eq!(resumed.take_seqs(3).await, vec![6, 7, 8]);
    // Other topics are unaffected.
    let (status, _, _) = get(&server.url, "/v1/events?topic=other&after=1").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn events_older_than_max_age_are_removed() {
    let server = TestServer::start(|c| {
        c.retention.max_age = "1ms".parse().unwrap();
        c.retention.interval = "20ms".parse().unwrap();
    })
    .await;
    publish_many(&server.url, "old", 4).await;
    for _ in 0..500 {
        let (_, _, topic) = get(&server.url, "/v1/topics/old").await;
        if topic["events"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (_, _, topic) = get(&server.url, "/v1/topics/old").await;
    assert_eq!(topic["events"], 0);
    assert_eq!(topic["last_seq"], 4, "the topic remembers where it was");
    let (status, _, problem) = get(&server.url, "/v1/events?topic=old&after=1").await;
    assert_eq!((status, problem["resume_after"].as_u64()), (410, Some(4)));
    server.stop().await;
}
