//! `/queue/<name>` over STOMP: each message to exactly one consumer (round-robin), held until
//! acknowledged, redelivered after NACK or a consumer's disconnect, bounded by `prefetch-count`,
//! and durable across a restart.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestServer;
use common::stomp::{Client, send};
use herald_codec::stomp::{Command, Frame};

fn body(frame: &Frame) -> String {
    String::from_utf8(frame.body.to_vec()).unwrap()
}

async fn connected(server: &TestServer) -> Client {
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c
}

#[tokio::test]
async fn messages_go_round_robin_each_to_exactly_one_consumer() {
    let server = TestServer::start(|_| {}).await;
    let mut a = connected(&server).await;
    let (mut b, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    b.connect(&[]).await;
    a.subscribe("a", "/queue/jobs", &[]).await;
    b.subscribe("b", "/queue/jobs", &[]).await;
    let mut p = connected(&server).await;
    for i in 0..6 {
        p.publish(
            "/queue/jobs",
            &format!("job-{i}"),
            &[("x-n", &i.to_string())],
        )
        .await;
    }
    let mut seen = HashSet::new();
    for (client, sub) in [(&mut a, "a"), (&mut b, "b")] {
        for _ in 0..3 {
            let m = client.message().await;
            assert_eq!(m.header("destination"), Some("/queue/jobs"));
            assert_eq!(m.header("subscription"), Some(sub));
            assert_eq!(m.header("redelivered"), Some("false"));
            assert!(m.header("x-n").is_some(), "user headers pass through");
            assert!(seen.insert(body(&m)), "delivered twice: {}", body(&m));
        }
    }
    assert_eq!(seen.len(), 6);
    a.expect_silence(Duration::from_millis(200)).await;
    b.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn messages_wait_for_a_consumer_and_in_order() {
    let server = TestServer::start(|_| {}).await;
    let mut p = connected(&server).await;
    for i in 0..3 {
        p.publish("/queue/later", &i.to_string(), &[]).await;
    }
    let mut c = connected(&server).await;
    c.subscribe("0", "/queue/later", &[]).await;
    let got: Vec<String> = [c.message().await, c.message().await, c.message().await]
        .iter()
        .map(body)
        .collect();
    assert_eq!(got, ["0", "1", "2"]);
    // auto mode: they are gone, so a new consumer gets nothing.
    c.with_receipt(Frame::new(Command::Disconnect), "bye").await;
    let mut d = connected(&server).await;
    d.subscribe("0", "/queue/later", &[]).await;
    d.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn prefetch_bounds_unacknowledged_messages_and_nack_redelivers() {
    let server = TestServer::start(|_| {}).await;
    let mut c = connected(&server).await;
    c.subscribe(
        "0",
        "/queue/work",
        &[("ack", "client-individual"), ("prefetch-count", "2")],
    )
    .await;
    let mut p = connected(&server).await;
    for i in 0..4 {
        p.publish("/queue/work", &i.to_string(), &[]).await;
    }
    let m0 = c.message().await;
    let m1 = c.message().await;
    assert_eq!((body(&m0).as_str(), body(&m1).as_str()), ("0", "1"));
    c.expect_silence(Duration::from_millis(200)).await;
    // ACK frees a slot: the next message arrives.
    c.with_receipt(
        Frame::new(Command::Ack).with_header("id", m1.header("ack").unwrap()),
        "a",
    )
    .await;
    let m2 = c.message().await;
    assert_eq!(body(&m2), "2");
    // NACK puts the message back at the front: it comes again, marked redelivered.
    c.with_receipt(
        Frame::new(Command::Nack).with_header("id", m0.header("ack").unwrap()),
        "n",
    )
    .await;
    let again = c.message().await;
    assert_eq!(body(&again), "0");
    assert_eq!(again.header("redelivered"), Some("true"));
    assert_ne!(
        again.header("ack"),
        m0.header("ack"),
        "a new delivery, a new ack id"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_consumer_leaving_without_ack_hands_its_messages_to_another() {
    let server = TestServer::start(|_| {}).await;
    let mut p = connected(&server).await;
    p.publish("/queue/handoff", "one", &[]).await;
    p.publish("/queue/handoff", "two", &[]).await;
    let mut a = connected(&server).await;
    a.subscribe("0", "/queue/handoff", &[("ack", "client")])
        .await;
    let first = a.message().await;
    let second = a.message().await;
    // Cumulative ACK of the first only; the second stays unacknowledged.
    a.with_receipt(
        Frame::new(Command::Ack).with_header("id", first.header("ack").unwrap()),
        "a",
    )
    .await;
    drop(second);
    // The consumer vanishes without DISCONNECT.
    drop(a);
    let mut b = connected(&server).await;
    b.subscribe("0", "/queue/handoff", &[("ack", "client")])
        .await;
    let m = b.message().await;
    assert_eq!(body(&m), "two");
    assert_eq!(m.header("redelivered"), Some("true"));
    b.expect_silence(Duration::from_millis(200)).await;
    // UNSUBSCRIBE returns held messages too.
    b.with_receipt(Frame::new(Command::Unsubscribe).with_header("id", "0"), "u")
        .await;
    b.subscribe("1", "/queue/handoff", &[]).await;
    assert_eq!(body(&b.message().await), "two");
    server.stop().await;
}

#[tokio::test]
async fn queue_sends_in_a_transaction_wait_for_commit() {
    let server = TestServer::start(|_| {}).await;
    let mut c = connected(&server).await;
    c.subscribe("0", "/queue/txq", &[]).await;
    let mut p = connected(&server).await;
    p.send(Frame::new(Command::Begin).with_header("transaction", "t"))
        .await;
    p.send(send("/queue/txq", "a").with_header("transaction", "t"))
        .await;
    p.send(send("/queue/txq", "b").with_header("transaction", "t"))
        .await;
    c.expect_silence(Duration::from_millis(200)).await;
    p.with_receipt(
        Frame::new(Command::Commit).with_header("transaction", "t"),
        "c",
    )
    .await;
    assert_eq!(body(&c.message().await), "a");
    assert_eq!(body(&c.message().await), "b");
    p.send(Frame::new(Command::Begin).with_header("transaction", "u"))
        .await;
    p.send(send("/queue/txq", "never").with_header("transaction", "u"))
        .await;
    p.with_receipt(
        Frame::new(Command::Abort).with_header("transaction", "u"),
        "ab",
    )
    .await;
    c.expect_silence(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
async fn queue_names_follow_topic_rules() {
    let server = TestServer::start(|_| {}).await;
    for frame in [
        send("/queue/a..b", "x"),
        Frame::new(Command::Subscribe)
            .with_header("id", "0")
            .with_header("destination", "/queue/a.*"),
    ] {
        let mut c = connected(&server).await;
        c.send(frame).await;
        let e = c.expect_error_and_close().await;
        assert_eq!(e.header("message"), Some("invalid destination"));
    }
    server.stop().await;
}

#[tokio::test]
async fn queues_and_unacknowledged_messages_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Process::serve(dir.path(), &[]);
    let mut p = Client::tcp(server.stomp).await;
    p.connect(&[]).await;
    for i in 0..4 {
        p.publish("/queue/durable", &i.to_string(), &[("x-i", &i.to_string())])
            .await;
    }
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe(
        "0",
        "/queue/durable",
        &[("ack", "client-individual"), ("prefetch-count", "1")],
    )
    .await;
    let m0 = c.message().await;
    // The ACK's RECEIPT means m0 is deleted; the freed slot brings m1, which is left unacked.
    c.with_receipt(
        Frame::new(Command::Ack).with_header("id", m0.header("ack").unwrap()),
        "a",
    )
    .await;
    assert_eq!(body(&c.message().await), "1");
    assert_eq!(server.signal("-9").code(), None);

    let server = common::Process::serve(dir.path(), &[]);
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/queue/durable", &[]).await;
    let got: Vec<(String, Option<String>)> =
        [c.message().await, c.message().await, c.message().await]
            .iter()
            .map(|m| (body(m), m.header("redelivered").map(str::to_owned)))
            .collect();
    let t = |b: &str, r: &str| (b.to_owned(), Some(r.to_owned()));
    assert_eq!(got, [t("1", "true"), t("2", "false"), t("3", "false")]);
    c.expect_silence(Duration::from_millis(200)).await;
}
