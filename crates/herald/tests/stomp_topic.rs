//! `/topic/<pattern>` over STOMP: publish and subscribe round trips on TCP and WebSocket,
//! replay with `after`, payload kinds, user headers, transactions and acknowledgement modes.

mod common;

use std::time::Duration;

use common::stomp::{Client, send, seq};
use common::{TestServer, get, publish, publish_many};
use herald_codec::stomp::{Command, Frame};

#[tokio::test]
async fn send_and_subscribe_round_trip_over_tcp_and_websocket() {
    let server = TestServer::start(|_| {}).await;
    let mut tcp = Client::tcp(server.stomp).await;
    tcp.connect(&[]).await;
    let (mut ws, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    ws.connect(&[]).await;
    tcp.subscribe("t", "/topic/chat.>", &[]).await;
    ws.subscribe("w", "/topic/chat.*", &[]).await;

    ws.publish(
        "/topic/chat.room1",
        r#"{"text": "hi"}"#,
        &[("event-type", "chat.message"), ("nick", "ann")],
    )
    .await;
    for (client, sub) in [(&mut tcp, "t"), (&mut ws, "w")] {
        let m = client.message().await;
        assert_eq!(m.header("destination"), Some("/topic/chat.room1"));
        assert_eq!(m.header("subscription"), Some(sub));
        assert_eq!(m.header("event-type"), Some("chat.message"));
        assert_eq!(m.header("content-type"), Some("application/json"));
        assert_eq!(m.header("nick"), Some("ann"), "user headers pass through");
        assert_eq!(m.header("ack"), None, "auto mode needs no ack");
        assert_eq!(&m.body[..], br#"{"text":"hi"}"#);
        assert!(m.header("message-id").is_some());
        assert!(seq(&m) > 0);
    }
    // The event is in the log, visible over HTTP with the same id and seq, JSON unchanged.
    let (_, _, page) = get(&server.url, "/v1/events?topic=chat.room1").await;
    let event = &page["events"][0];
    assert_eq!(event["type"], "chat.message");
    assert_eq!(event["data"]["text"], "hi");
    assert!(event.get("headers").is_none());

    // An HTTP publish reaches STOMP subscribers too; type defaults to the topic.
    let (status, stored) = publish(&server.url, "chat.room2", r#"{"data":[1,2]}"#).await;
    assert_eq!(status, 201);
    let m = tcp.message().await;
    assert_eq!(m.header("message-id"), stored["id"].as_str());
    assert_eq!(seq(&m), stored["seq"].as_u64().unwrap());
    assert_eq!(m.header("event-type"), Some("chat.room2"));
    assert_eq!(&m.body[..], b"[1,2]");
    // ...and a topic outside the pattern does not.
    tcp.publish("/topic/other", "1", &[]).await;
    tcp.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn text_bodies_keep_their_content_type() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/kinds", &[]).await;
    c.publish("/topic/kinds", "plain words", &[]).await;
    c.publish("/topic/kinds", "a,b", &[("content-type", "text/csv")])
        .await;
    let m = c.message().await;
    assert_eq!(m.header("content-type"), Some("text/plain"));
    assert_eq!(&m.body[..], b"plain words");
    let m = c.message().await;
    assert_eq!(m.header("content-type"), Some("text/csv"));
    let (_, _, page) = get(&server.url, "/v1/events?topic=kinds").await;
    assert_eq!(page["events"][1]["datacontenttype"], "text/csv");
    assert_eq!(page["events"][1]["data"], "a,b");
    server.stop().await;
}

#[tokio::test]
async fn without_after_only_new_events_arrive() {
    let server = TestServer::start(|_| {}).await;
    publish_many(&server.url, "news", 3).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/news", &[]).await;
    let (_, stored) = publish(&server.url, "news", r#"{"data":"fresh"}"#).await;
    assert_eq!(seq(&c.message().await), stored["seq"].as_u64().unwrap());
    c.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn after_replays_then_goes_live_with_no_gap_or_duplicate() {
    let server = TestServer::start(|c| c.streams.buffer = 16).await;
    let before = publish_many(&server.url, "seam", 40).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    // Subscribe from the middle while a publisher keeps going.
    let url = server.url.clone();
    let publisher = tokio::spawn(async move { publish_many(&url, "seam", 60).await });
    c.subscribe("0", "/topic/seam", &[("after", &before[9].to_string())])
        .await;
    let during = publisher.await.unwrap();
    let expected: Vec<u64> = before[10..].iter().chain(&during).copied().collect();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let m = c.message().await;
        assert_eq!(m.header("destination"), Some("/topic/seam"));
        got.push(seq(&m));
    }
    assert_eq!(got, expected);
    c.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_slow_subscriber_blocks_neither_publishers_nor_other_subscribers() {
    let server = TestServer::start(|c| {
        c.streams.buffer = 16;
        c.stomp.outbound_queue = 4;
    })
    .await;
    // This one subscribes and then reads nothing.
    let mut slow = Client::tcp(server.stomp).await;
    slow.connect(&[]).await;
    slow.subscribe("0", "/topic/load", &[]).await;
    let mut fast = Client::tcp(server.stomp).await;
    fast.connect(&[]).await;
    fast.subscribe("0", "/topic/load", &[]).await;
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    let mut p = Client::tcp(server.stomp).await;
    p.connect(&[]).await;
    for _ in 0..100 {
        p.publish("/topic/load", &big, &[]).await;
    }
    let mut last = 0;
    for _ in 0..100 {
        let s = seq(&fast.message().await);
        assert!(s > last);
        last = s;
    }
    // The slow one still gets everything, in order, once it reads.
    let mut prev = 0;
    for _ in 0..100 {
        let s = seq(&slow.message().await);
        assert!(s > prev, "in order, no duplicates");
        prev = s;
    }
    assert_eq!(prev, last);
    server.stop().await;
}

#[tokio::test]
async fn committed_transactions_publish_atomically_and_aborted_ones_not_at_all() {
    let server = TestServer::start(|_| {}).await;
    let mut sub = Client::tcp(server.stomp).await;
    sub.connect(&[]).await;
    sub.subscribe("0", "/topic/tx.>", &[]).await;
    let (mut c, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    c.connect(&[]).await;
    c.send(Frame::new(Command::Begin).with_header("transaction", "t1"))
        .await;
    for i in 0..3 {
        c.send(send(&format!("/topic/tx.{i}"), &i.to_string()).with_header("transaction", "t1"))
            .await;
    }
    // Nothing is published before COMMIT.
    sub.expect_silence(Duration::from_millis(200)).await;
    c.with_receipt(
        Frame::new(Command::Commit).with_header("transaction", "t1"),
        "c",
    )
    .await;
    // The RECEIPT came after the append: the log already holds all three, consecutively.
    let (_, _, page) = get(&server.url, "/v1/events?topic=tx.%3E").await;
    let seqs = common::seqs(&page["events"]);
    assert_eq!(seqs.len(), 3);
    assert_eq!(seqs[2] - seqs[0], 2, "consecutive seqs: one atomic append");
    let got: Vec<u64> = [
        sub.message().await,
        sub.message().await,
        sub.message().await,
    ]
    .iter()
    .map(seq)
    .collect();
    assert_eq!(got, seqs);

    c.send(Frame::new(Command::Begin).with_header("transaction", "t2"))
        .await;
    c.send(send("/topic/tx.9", "9").with_header("transaction", "t2"))
        .await;
    c.with_receipt(
        Frame::new(Command::Abort).with_header("transaction", "t2"),
        "a",
    )
    .await;
    // A transaction left open at disconnect is aborted.
    c.send(Frame::new(Command::Begin).with_header("transaction", "t3"))
        .await;
    c.send(send("/topic/tx.8", "8").with_header("transaction", "t3"))
        .await;
    c.with_receipt(Frame::new(Command::Disconnect), "bye").await;
    sub.expect_silence(Duration::from_millis(300)).await;
    let (_, _, page) = get(&server.url, "/v1/events?topic=tx.%3E").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn client_acks_are_cumulative_and_individual_ones_are_not() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe(
        "cum",
        "/topic/acks",
        &[("ack", "client"), ("prefetch-count", "3")],
    )
    .await;
    c.publish("/topic/acks", "1", &[]).await;
    let mut p = Client::tcp(server.stomp).await;
    p.connect(&[]).await;
    for i in 2..=6 {
        p.publish("/topic/acks", &i.to_string(), &[]).await;
    }
    let m: Vec<Frame> = vec![c.message().await, c.message().await, c.message().await];
    // prefetch-count 3: the fourth waits for an ACK.
    c.expect_silence(Duration::from_millis(200)).await;
    // ACK of the second message acknowledges the first two.
    c.with_receipt(
        Frame::new(Command::Ack).with_header("id", m[1].header("ack").unwrap()),
        "a",
    )
    .await;
    let m4 = c.message().await;
    let m5 = c.message().await;
    assert_eq!(&m4.body[..], b"4");
    assert_eq!(&m5.body[..], b"5");
    c.expect_silence(Duration::from_millis(200)).await;
    // The first one is acknowledged already: ACKing it again is an error.
    c.send(Frame::new(Command::Ack).with_header("id", m[0].header("ack").unwrap()))
        .await;
    c.expect_error_and_close().await;

    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe(
        "ind",
        "/topic/acks2",
        &[("ack", "client-individual"), ("prefetch-count", "2")],
    )
    .await;
    p.publish("/topic/acks2", "1", &[]).await;
    p.publish("/topic/acks2", "2", &[]).await;
    p.publish("/topic/acks2", "3", &[]).await;
    let a = c.message().await;
    let b = c.message().await;
    c.expect_silence(Duration::from_millis(200)).await;
    // Acknowledging the second frees one slot and leaves the first unacknowledged.
    c.with_receipt(
        Frame::new(Command::Ack).with_header("id", b.header("ack").unwrap()),
        "a",
    )
    .await;
    let third = c.message().await;
    assert_eq!(&third.body[..], b"3");
    // NACK settles too; in a transaction it waits for COMMIT.
    c.send(Frame::new(Command::Begin).with_header("transaction", "t"))
        .await;
    c.send(
        Frame::new(Command::Nack)
            .with_header("id", a.header("ack").unwrap())
            .with_header("transaction", "t"),
    )
    .await;
    c.with_receipt(
        Frame::new(Command::Commit).with_header("transaction", "t"),
        "c",
    )
    .await;
    c.send(Frame::new(Command::Ack).with_header("id", a.header("ack").unwrap()))
        .await;
    let e = c.expect_error_and_close().await;
    assert_eq!(e.header("message"), Some("unknown message"));
    drop(third);
    server.stop().await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/u", &[]).await;
    c.publish("/topic/u", "1", &[]).await;
    c.message().await;
    c.with_receipt(Frame::new(Command::Unsubscribe).with_header("id", "0"), "u")
        .await;
    c.publish("/topic/u", "2", &[]).await;
    c.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn escaped_headers_round_trip() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/esc", &[]).await;
    // Repeated headers: the first counts.
    c.raw(b"SEND\ndestination:/topic/esc\nweird\\cname:a\\nb\\\\c\\rd\nx:first\nx:second\nreceipt:r\n\n1\0")
        .await;
    // The MESSAGE may overtake the RECEIPT.
    let (a, b) = (c.frame().await, c.frame().await);
    let m = if a.command == Command::Message { a } else { b };
    assert_eq!(m.header("weird:name"), Some("a\nb\\c\rd"));
    assert_eq!(m.header("x"), Some("first"));
    assert_eq!(m.headers.iter().filter(|(n, _)| n == "x").count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn sends_survive_a_restart_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Process::serve(dir.path(), &[]);
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.publish("/topic/durable.stomp", r#"{"n":1}"#, &[("trace", "t-1")])
        .await;
    assert_eq!(server.signal("-9").code(), None);
    let server = common::Process::serve(dir.path(), &[]);
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/durable.>", &[("after", "0")])
        .await;
    let m = c.message().await;
    assert_eq!(&m.body[..], br#"{"n":1}"#);
    assert_eq!(m.header("trace"), Some("t-1"), "user headers are stored");
}
