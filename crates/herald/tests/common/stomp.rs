//! A small STOMP client for tests, over TCP or WebSocket, built on Herald's own codec (the
//! interop tests in `tests/interop/` use clients Herald did not write).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use herald_codec::stomp::{Command, Decoder, Frame, Limits, Parsed, Version, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

enum Link {
    Tcp(TcpStream),
    Ws(Box<Ws>),
}

/// One STOMP connection.
pub struct Client {
    link: Link,
    decoder: Decoder,
    buf: BytesMut,
    pub version: Version,
    closed: bool,
    /// Frames that arrived while waiting for a RECEIPT (a subscriber's own MESSAGE may overtake
    /// the RECEIPT of the SEND that caused it); `frame` hands them out first.
    early: std::collections::VecDeque<Frame>,
}

/// What the server did next.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    HeartBeat,
    Closed,
    /// Nothing within the wait.
    Silent,
}

impl Client {
    pub async fn tcp(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::new(Link::Tcp(stream))
    }

    /// Opens `/v1/ws` offering `protocols`; also returns the subprotocol the server chose.
    pub async fn ws(http_url: &str, protocols: &[&str]) -> (Self, Option<String>) {
        let url = format!("{}/v1/ws", http_url.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        if !protocols.is_empty() {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                protocols.join(", ").parse().unwrap(),
            );
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let chosen = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        (Self::new(Link::Ws(Box::new(ws))), chosen)
    }

    /// Opens `/v1/ws` with a query string and extra upgrade headers; the upgrade's HTTP status
    /// when the server refused it.
    pub async fn ws_with(
        http_url: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, u16> {
        let url = format!("{}/v1/ws{query}", http_url.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        for (k, v) in headers {
            let name: tokio_tungstenite::tungstenite::http::HeaderName = k.parse().unwrap();
            request.headers_mut().insert(name, v.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self::new(Link::Ws(Box::new(ws)))),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("WebSocket connect failed: {e}"),
        }
    }

    fn new(link: Link) -> Self {
        Self {
            link,
            decoder: Decoder::new(Version::V1_2, Limits::default()),
            buf: BytesMut::new(),
            version: Version::V1_2,
            closed: false,
            early: Default::default(),
        }
    }

    /// Writes raw bytes (one WebSocket message).
    pub async fn raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Tcp(s) => s.write_all(bytes).await.unwrap(),
            Link::Ws(ws) => ws
                .send(Message::Text(std::str::from_utf8(bytes).unwrap().into()))
                .await
                .unwrap(),
        }
    }

    /// Writes raw bytes as a binary WebSocket message (or plain bytes over TCP).
    pub async fn raw_binary(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Tcp(s) => s.write_all(bytes).await.unwrap(),
            Link::Ws(ws) => ws
                .send(Message::Binary(Bytes::copy_from_slice(bytes)))
                .await
                .unwrap(),
        }
    }

    /// Encodes and writes a frame.
    pub async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        encode(&frame, self.version, &mut out);
        self.raw_binary(&out).await;
    }

    /// CONNECT with `accept-version: 1.2` and `extra` headers; returns CONNECTED.
    pub async fn connect(&mut self, extra: &[(&str, &str)]) -> Frame {
        let mut frame = Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("host", "localhost");
        for (k, v) in extra {
            frame = frame.with_header(*k, *v);
        }
        self.connect_with(frame).await
    }

    /// Sends a CONNECT (or STOMP) frame as given; expects CONNECTED and adopts its version.
    pub async fn connect_with(&mut self, frame: Frame) -> Frame {
        self.send(frame).await;
        let connected = self.frame().await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        self.version = Version::from_name(connected.header("version").unwrap_or("1.0")).unwrap();
        self.decoder.set_version(self.version);
        connected
    }

    /// The next thing from the server within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Parsed::Frame(f))) => return Next::Frame(f),
                Ok(Some(Parsed::HeartBeat)) => return Next::HeartBeat,
                Ok(None) => {}
                Err(e) => panic!("server sent bad STOMP: {e}"),
            }
            if self.closed {
                return Next::Closed;
            }
            let read = tokio::time::timeout_at(deadline, self.read_some()).await;
            match read {
                Err(_) => return Next::Silent,
                Ok(None) => self.closed = true,
                Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
            }
        }
    }

    async fn read_some(&mut self) -> Option<Bytes> {
        match &mut self.link {
            Link::Tcp(s) => {
                let mut buf = vec![0; 64 * 1024];
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => Some(Bytes::copy_from_slice(&buf[..n])),
                }
            }
            Link::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => return Some(Bytes::from(t)),
                    Some(Ok(Message::Binary(b))) => return Some(b),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => continue,
                }
            },
        }
    }

    /// The next frame, skipping heart-beats; panics after 10 s or on close.
    pub async fn frame(&mut self) -> Frame {
        if let Some(frame) = self.early.pop_front() {
            return frame;
        }
        loop {
            match self.next(Duration::from_secs(10)).await {
                Next::Frame(f) => return f,
                Next::HeartBeat => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    async fn next_frame(&mut self) -> Frame {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Next::Frame(f) => return f,
                Next::HeartBeat => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// Expects an ERROR frame and then the connection to close; returns the ERROR.
    pub async fn expect_error_and_close(&mut self) -> Frame {
        let error = self.frame().await;
        assert_eq!(error.command, Command::Error, "{error:?}");
        self.expect_closed().await;
        error
    }

    /// Expects the server to close the connection (heart-beats aside) within 10 s.
    pub async fn expect_closed(&mut self) {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Next::Closed => return,
                Next::HeartBeat => continue,
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }

    /// Expects no frame for `wait` (heart-beats are fine).
    pub async fn expect_silence(&mut self, wait: Duration) {
        assert!(
            self.early.is_empty(),
            "expected silence, got {:?}",
            self.early
        );
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Silent => return,
                Next::HeartBeat => continue,
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Sends `frame` with a `receipt` header and waits for that RECEIPT.
    pub async fn with_receipt(&mut self, frame: Frame, receipt: &str) {
        self.send(frame.with_header("receipt", receipt)).await;
        loop {
            let got = self.next_frame().await;
            if got.command == Command::Message {
                self.early.push_back(got);
                continue;
            }
            assert_eq!(got.command, Command::Receipt, "{got:?}");
            assert_eq!(got.header("receipt-id"), Some(receipt));
            return;
        }
    }

    /// SUBSCRIBE, confirmed by a receipt.
    pub async fn subscribe(&mut self, id: &str, destination: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new(Command::Subscribe)
            .with_header("id", id)
            .with_header("destination", destination);
        for (k, v) in extra {
            frame = frame.with_header(*k, *v);
        }
        self.with_receipt(frame, &format!("sub-{id}")).await;
    }

    /// SEND of `body` to `destination`, confirmed by a receipt (so it is in the log).
    pub async fn publish(&mut self, destination: &str, body: &str, extra: &[(&str, &str)]) {
        let mut frame = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_body(Bytes::copy_from_slice(body.as_bytes()));
        for (k, v) in extra {
            frame = frame.with_header(*k, *v);
        }
        self.with_receipt(frame, "send").await;
    }

    /// The next MESSAGE, checked to be one.
    pub async fn message(&mut self) -> Frame {
        let frame = self.frame().await;
        assert_eq!(frame.command, Command::Message, "{frame:?}");
        frame
    }
}

/// A frame's `seq` header as a number.
pub fn seq(frame: &Frame) -> u64 {
    frame.header("seq").unwrap().parse().unwrap()
}

/// SEND frame builder.
pub fn send(destination: &str, body: &str) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", destination)
        .with_body(Bytes::copy_from_slice(body.as_bytes()))
}
