//! STOMP sessions over TCP and WebSocket: connecting and version negotiation, heart-beats,
//! receipts, DISCONNECT, and ERROR-then-close on protocol violations.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestServer;
use common::stomp::{Client, Next, send};
use herald_codec::stomp::{Command, Frame, Version};

#[tokio::test]
async fn negotiates_the_highest_shared_version() {
    let server = TestServer::start(|_| {}).await;
    for (offered, agreed) in [
        (Some("1.0,1.1,1.2"), "1.2"),
        (Some("1.1,1.0"), "1.1"),
        (Some("1.0"), "1.0"),
        (Some("1.1,2.0"), "1.1"),
        (None, "1.0"),
    ] {
        let mut c = Client::tcp(server.stomp).await;
        let mut connect = Frame::new(Command::Connect).with_header("host", "h");
        if let Some(v) = offered {
            connect = connect.with_header("accept-version", v);
        }
        let connected = c.connect_with(connect).await;
        assert_eq!(
            connected.header("version"),
            Some(agreed),
            "offered {offered:?}"
        );
        assert!(connected.header("server").unwrap().starts_with("herald/"));
    }
    // The STOMP command works like CONNECT.
    let mut c = Client::tcp(server.stomp).await;
    let connected = c
        .connect_with(Frame::new(Command::Stomp).with_header("accept-version", "1.2"))
        .await;
    assert_eq!(connected.header("version"), Some("1.2"));
    server.stop().await;
}

#[tokio::test]
async fn no_shared_version_is_an_error_naming_ours() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.send(Frame::new(Command::Connect).with_header("accept-version", "2.0,3.1"))
        .await;
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("version"), Some("1.0,1.1,1.2"));
    assert!(error.header("message").is_some());
    server.stop().await;
}

#[tokio::test]
async fn websocket_picks_the_highest_offered_subprotocol() {
    let server = TestServer::start(|_| {}).await;
    for (offered, chosen) in [
        (
            &["v10.stomp", "v11.stomp", "v12.stomp"][..],
            Some("v12.stomp"),
        ),
        (&["v10.stomp", "v11.stomp"][..], Some("v11.stomp")),
        (&["v10.stomp"][..], Some("v10.stomp")),
        (&[][..], None),
    ] {
        let (mut c, got) = Client::ws(&server.url, offered).await;
        assert_eq!(got.as_deref(), chosen, "offered {offered:?}");
        // Without accept-version, the subprotocol (or, with none, 1.0) gives the version.
        let connected = c.connect_with(Frame::new(Command::Connect)).await;
        let expected = match chosen {
            Some("v12.stomp") => "1.2",
            Some("v11.stomp") => "1.1",
            _ => "1.0",
        };
        assert_eq!(connected.header("version"), Some(expected));
    }
    server.stop().await;
}

#[tokio::test]
async fn frames_split_across_websocket_messages_and_several_in_one() {
    let server = TestServer::start(|_| {}).await;
    let (mut c, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    let connect = b"CONNECT\naccept-version:1.2\nhost:h\n\n\0";
    // CONNECT in three messages.
    c.raw(&connect[..5]).await;
    c.raw(&connect[5..20]).await;
    c.raw(&connect[20..]).await;
    assert_eq!(c.frame().await.command, Command::Connected);
    c.version = Version::V1_2;
    // SUBSCRIBE and SEND in one message, each asking for a receipt.
    c.raw(b"SUBSCRIBE\nid:0\ndestination:/topic/split.a\nreceipt:r1\n\n\0SEND\ndestination:/topic/split.a\nreceipt:r2\n\nhello\0")
        .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let f = c.frame().await;
        got.push((f.command, f.header("receipt-id").map(str::to_owned)));
    }
    assert!(got.contains(&(Command::Receipt, Some("r1".into()))));
    assert!(got.contains(&(Command::Receipt, Some("r2".into()))));
    assert!(got.iter().any(|(c, _)| *c == Command::Message));
    server.stop().await;
}

#[tokio::test]
async fn receipts_and_disconnect() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.with_receipt(
        Frame::new(Command::Subscribe)
            .with_header("id", "s")
            .with_header("destination", "/topic/r.x"),
        "a",
    )
    .await;
    c.with_receipt(Frame::new(Command::Unsubscribe).with_header("id", "s"), "b")
        .await;
    c.send(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let receipt = c.frame().await;
    assert_eq!(receipt.command, Command::Receipt);
    assert_eq!(receipt.header("receipt-id"), Some("bye"));
    c.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn server_heart_beats_at_the_interval_the_client_asks_for_but_not_below_one_second() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    // The client would like a beat every 10 ms and sends none itself.
    let connected = c.connect(&[("heart-beat", "0,10")]).await;
    assert_eq!(connected.header("heart-beat"), Some("1000,0"));
    // Within 1.5 s a heart-beat (an EOL) arrives, and the connection stays open.
    match c.next(Duration::from_millis(1500)).await {
        Next::HeartBeat => {}
        other => panic!("expected a heart-beat, got {other:?}"),
    }
    // A 1.0 session has no heart-beats.
    let mut old = Client::tcp(server.stomp).await;
    let connected = old
        .connect_with(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.0")
                .with_header("heart-beat", "0,10"),
        )
        .await;
    assert_eq!(connected.header("heart-beat"), Some("0,0"));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_after_twice_the_agreed_interval() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    // The client promises a beat every 1 s (asking for 10 ms is raised to the 1 s floor).
    let connected = c.connect(&[("heart-beat", "10,0")]).await;
    assert_eq!(connected.header("heart-beat"), Some("0,1000"));
    let started = std::time::Instant::now();
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("message"), Some("connection timed out"));
    // Not before twice the interval (no upper bound asserted: the machine may be slow).
    assert!(started.elapsed() >= Duration::from_millis(1900));

    // A client that keeps beating stays connected past that.
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[("heart-beat", "1000,0")]).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.raw(b"\n").await;
    }
    c.with_receipt(
        Frame::new(Command::Subscribe)
            .with_header("id", "s")
            .with_header("destination", "/topic/alive"),
        "still-here",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_connection_without_connect_times_out() {
    let server = TestServer::start(|c| {
        c.stomp.connect_timeout = "200ms".parse().unwrap();
    })
    .await;
    let mut c = Client::tcp(server.stomp).await;
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("message"), Some("connection timed out"));
    server.stop().await;
}

/// Each case: frames after CONNECT (or instead of it) that must get ERROR and a close.
#[tokio::test]
async fn violations_get_an_error_then_close() {
    let server = TestServer::start(|c| {
        c.stomp.max_frame = 4096;
        c.stomp.max_headers = 10;
        c.stomp.max_header_line = 256;
    })
    .await;
    let cases: Vec<(&str, bool, Vec<u8>, &str)> = vec![
        (
            "frame before CONNECT",
            false,
            b"SEND\ndestination:/topic/a\n\nx\0".to_vec(),
            "not connected",
        ),
        (
            "unknown command",
            true,
            b"FROB\n\n\0".to_vec(),
            "malformed frame",
        ),
        (
            "second CONNECT",
            true,
            b"CONNECT\naccept-version:1.2\n\n\0".to_vec(),
            "already connected",
        ),
        (
            "SEND without destination",
            true,
            b"SEND\nreceipt:r\n\nx\0".to_vec(),
            "missing header",
        ),
        (
            "SEND to a pattern",
            true,
            b"SEND\ndestination:/topic/a.*\n\nx\0".to_vec(),
            "invalid destination",
        ),
        (
            "SEND to herald.*",
            true,
            b"SEND\ndestination:/topic/herald.x\n\nx\0".to_vec(),
            "destination refused",
        ),
        (
            "SEND elsewhere",
            true,
            b"SEND\ndestination:/exchange/x\n\nx\0".to_vec(),
            "unknown destination",
        ),
        (
            "bad JSON",
            true,
            b"SEND\ndestination:/topic/a\ncontent-type:application/json\n\n{\0".to_vec(),
            "invalid JSON body",
        ),
        (
            "SUBSCRIBE without id",
            true,
            b"SUBSCRIBE\ndestination:/topic/a\n\n\0".to_vec(),
            "missing header",
        ),
        (
            "bad ack mode",
            true,
            b"SUBSCRIBE\nid:1\ndestination:/topic/a\nack:sometimes\n\n\0".to_vec(),
            "invalid ack mode",
        ),
        (
            "bad after",
            true,
            b"SUBSCRIBE\nid:1\ndestination:/topic/a\nafter:-1\n\n\0".to_vec(),
            "invalid after",
        ),
        (
            "unknown subscription",
            true,
            b"UNSUBSCRIBE\nid:nope\n\n\0".to_vec(),
            "unknown subscription",
        ),
        (
            "ACK of nothing",
            true,
            b"ACK\nid:42\n\n\0".to_vec(),
            "unknown message",
        ),
        (
            "COMMIT of nothing",
            true,
            b"COMMIT\ntransaction:t\n\n\0".to_vec(),
            "unknown transaction",
        ),
        (
            "server frame",
            true,
            b"MESSAGE\n\n\0".to_vec(),
            "unexpected frame",
        ),
        (
            "body on SUBSCRIBE",
            true,
            b"SUBSCRIBE\nid:1\ndestination:/topic/a\ncontent-length:1\n\nx\0".to_vec(),
            "malformed frame",
        ),
        (
            "bad escape",
            true,
            b"SEND\ndestination:/topic/a\nx:a\\tb\n\nx\0".to_vec(),
            "malformed frame",
        ),
        (
            "frame too large",
            true,
            [
                b"SEND\ndestination:/topic/a\n\n".as_slice(),
                &[b'x'; 5000],
                b"\0",
            ]
            .concat(),
            "malformed frame",
        ),
        (
            "too many headers",
            true,
            [
                b"SEND\ndestination:/topic/a\n".as_slice(),
                &b"h:v\n".repeat(11),
                b"\nx\0",
            ]
            .concat(),
            "malformed frame",
        ),
        (
            "header line too long",
            true,
            [
                b"SEND\ndestination:/topic/a\nh:".as_slice(),
                &[b'v'; 300],
                b"\n\nx\0",
            ]
            .concat(),
            "malformed frame",
        ),
        (
            "content-length without NUL",
            true,
            b"SEND\ndestination:/topic/a\ncontent-length:1\n\nxy\0".to_vec(),
            "malformed frame",
        ),
        (
            // No NUL ever comes: the frame grows past the limit instead of hanging the reader.
            "body without NUL past the limit",
            true,
            [b"SEND\ndestination:/topic/a\n\n".as_slice(), &[b'x'; 5000]].concat(),
            "malformed frame",
        ),
        (
            "content-length over the limit",
            true,
            b"SEND\ndestination:/topic/a\ncontent-length:999999999\n\n\0".to_vec(),
            "malformed frame",
        ),
        (
            "garbage bytes",
            true,
            b"\xff\xfe\x01\x02 not stomp \x80\n\n\0".to_vec(),
            "malformed frame",
        ),
        (
            "garbage bytes before CONNECT",
            false,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n\0".to_vec(),
            "malformed frame",
        ),
    ];
    // A client connected before the violations, and still served after all of them.
    let mut bystander = Client::tcp(server.stomp).await;
    bystander.connect(&[]).await;
    bystander.subscribe("b", "/topic/bystander", &[]).await;
    let (mut ws_bystander, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    ws_bystander.connect(&[]).await;
    ws_bystander.subscribe("b", "/topic/bystander", &[]).await;
    for (name, connect, bytes, message) in &cases {
        let mut c = Client::tcp(server.stomp).await;
        if *connect {
            c.connect(&[]).await;
        }
        c.raw(bytes).await;
        let error = c.expect_error_and_close().await;
        assert_eq!(error.header("message"), Some(*message), "{name}: {error:?}");
    }
    // The same bytes over WebSocket, each in one binary message: the same ERROR, then a close.
    for (name, connect, bytes, message) in &cases {
        let (mut c, _) = Client::ws(&server.url, &["v12.stomp"]).await;
        if *connect {
            c.connect(&[]).await;
        }
        c.raw_binary(bytes).await;
        let error = c.expect_error_and_close().await;
        assert_eq!(
            error.header("message"),
            Some(*message),
            "{name} over WebSocket: {error:?}"
        );
    }
    bystander
        .publish("/topic/bystander", r#"{"still":"here"}"#, &[])
        .await;
    let m = bystander.message().await;
    assert_eq!(m.body.as_ref(), br#"{"still":"here"}"#);
    let m = ws_bystander.message().await;
    assert_eq!(m.body.as_ref(), br#"{"still":"here"}"#);
    ws_bystander
        .publish("/topic/bystander", r#"{"ws":"too"}"#, &[])
        .await;
    assert_eq!(bystander.message().await.body.as_ref(), br#"{"ws":"too"}"#);
    assert_eq!(
        ws_bystander.message().await.body.as_ref(),
        br#"{"ws":"too"}"#
    );
    // A violation in a frame that asked for a receipt names it.
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.send(send("/topic/herald.x", "x").with_header("receipt", "r-7"))
        .await;
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("receipt-id"), Some("r-7"));
    assert!(!error.body.is_empty(), "the body explains");
    // The server is still fine.
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.publish("/topic/ok", "{}", &[]).await;
    server.stop().await;
}

#[tokio::test]
async fn version_1_0_and_1_1_differences() {
    let server = TestServer::start(|_| {}).await;
    // 1.0: SUBSCRIBE without id (the destination names it), ACK by message-id, no NACK.
    let mut c = Client::tcp(server.stomp).await;
    c.connect_with(Frame::new(Command::Connect)).await;
    c.with_receipt(
        Frame::new(Command::Subscribe)
            .with_header("destination", "/topic/old.a")
            .with_header("ack", "client"),
        "s",
    )
    .await;
    let mut p = Client::tcp(server.stomp).await;
    p.connect(&[]).await;
    p.publish("/topic/old.a", "{\"v\":1}", &[("note", "a:b")])
        .await;
    let m = c.message().await;
    assert_eq!(m.header("subscription"), Some("/topic/old.a"));
    assert_eq!(m.header("ack"), None, "1.0 acks by message-id");
    assert_eq!(m.header("note"), Some("a:b"), "1.0 headers are not escaped");
    let id = m.header("message-id").unwrap().to_owned();
    c.with_receipt(Frame::new(Command::Ack).with_header("message-id", &id), "a")
        .await;
    c.send(Frame::new(Command::Nack).with_header("message-id", &id))
        .await;
    let e = c.expect_error_and_close().await;
    assert!(e.body.starts_with(b"NACK is not part of STOMP 1.0"));

    // 1.1: escaping applies to MESSAGE headers, ACK names message-id and subscription.
    let mut c = Client::tcp(server.stomp).await;
    c.connect_with(Frame::new(Command::Connect).with_header("accept-version", "1.1"))
        .await;
    c.subscribe("s1", "/topic/old.b", &[("ack", "client-individual")])
        .await;
    p.publish("/topic/old.b", "x", &[("note", "line1\nline2:x\\y")])
        .await;
    let m = c.message().await;
    assert_eq!(m.header("note"), Some("line1\nline2:x\\y"));
    let id = m.header("message-id").unwrap().to_owned();
    c.with_receipt(
        Frame::new(Command::Nack)
            .with_header("message-id", &id)
            .with_header("subscription", "s1"),
        "n",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_sends_error_and_closes() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    let (mut w, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    w.connect(&[]).await;
    server.shutdown.cancel();
    for client in [&mut c, &mut w] {
        let error = client.expect_error_and_close().await;
        assert_eq!(error.header("message"), Some("server shutting down"));
    }
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn content_length_bodies_keep_nul_bytes() {
    let server = TestServer::start(|_| {}).await;
    let mut c = Client::tcp(server.stomp).await;
    c.connect(&[]).await;
    c.subscribe("0", "/topic/bin", &[]).await;
    let body = Bytes::from_static(&[0, 159, 146, 150, 0, 1]);
    c.with_receipt(
        Frame::new(Command::Send)
            .with_header("destination", "/topic/bin")
            .with_header("content-type", "application/octet-stream")
            .with_body(body.clone()),
        "r",
    )
    .await;
    let m = c.message().await;
    assert_eq!(m.body, body);
    assert_eq!(m.header("content-type"), Some("application/octet-stream"));
    // Over WebSocket a non-UTF-8 frame arrives as a binary message, intact.
    let (mut w, _) = Client::ws(&server.url, &["v12.stomp"]).await;
    w.connect(&[]).await;
    w.subscribe("0", "/topic/bin", &[("after", "0")]).await;
    assert_eq!(w.message().await.body, body);
    server.stop().await;
}
