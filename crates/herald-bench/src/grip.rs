//! Pushpin as the peer for SSE and NDJSON fan-out.
//!
//! Pushpin is a proxy: a subscriber connects to Pushpin, Pushpin forwards the request to a
//! backend, and the backend's answer tells Pushpin, through GRIP headers, to hold the connection
//! open as a stream subscribed to a channel (`Grip-Hold: stream`, `Grip-Channel: <topic>`). From
//! then on, whatever is published to that channel through Pushpin's HTTP publish API
//! (`POST /publish/` with an `http-stream` item) is written to every held connection.
//!
//! This module is both halves the generator needs: [`start_backend`], a tiny GRIP backend that holds
//! every request on the bench topic, and [`Publisher`], which publishes each event. The frames
//! are the floor's: `id: <n>\ndata: {"seq":<n>,"data":<data>}\n\n` for SSE, one JSON line for
//! NDJSON, so the existing receive loop counts them and reads their timestamps unchanged.
//!
//! `bench/peers.sh` starts a Pushpin that listens on 127.0.0.1:7999, takes publishes on
//! 127.0.0.1:5561 and routes every request to this backend on 127.0.0.1:7998.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Transport;
use crate::http::read_head;

/// Where `bench/peers.sh` has Pushpin's HTTP publish API listen.
pub const PUBLISH_ADDR: &str = "127.0.0.1:5561";

/// Starts the GRIP backend on `addr` (Pushpin's route target), serving until the process ends:
/// it answers every request Pushpin forwards with "hold this as a stream on `topic`" and
/// closes (Pushpin keeps the subscriber's connection, not ours).
pub async fn start_backend(
    addr: SocketAddr,
    topic: &str,
    transport: Transport,
) -> anyhow::Result<()> {
    let content_type = match transport {
        Transport::Sse => "text/event-stream",
        Transport::Ndjson => "application/x-ndjson",
        Transport::Stomp | Transport::StompWs => bail!("Pushpin is measured over SSE or NDJSON"),
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for Pushpin's requests"))?;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ngrip-hold: stream\r\n\
         grip-channel: {topic}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                // Pushpin's request has no body (the subscribers send GETs).
                if read_head(&mut socket).await.is_ok() {
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            });
        }
    });
    Ok(())
}

/// Publishes events to one channel through Pushpin's HTTP publish API.
pub struct Publisher {
    addr: SocketAddr,
    topic: String,
    transport: Transport,
    /// Events sent so far by this publisher, numbering the frames as the floor does.
    sent: u64,
}

impl Publisher {
    pub fn new(addr: SocketAddr, topic: &str, transport: Transport) -> Self {
        Self {
            addr,
            topic: topic.to_owned(),
            transport,
            sent: 0,
        }
    }

    /// Publishes one event carrying `data` (JSON) and waits for Pushpin's `200`. Pushpin answers
    /// every publish with `connection: close`, so each one opens a connection of its own.
    pub async fn send(&mut self, data: &str) -> anyhow::Result<()> {
        self.sent += 1;
        let n = self.sent;
        let frame = match self.transport {
            Transport::Sse => format!("id: {n}\ndata: {{\"seq\":{n},\"data\":{data}}}\n\n"),
            _ => format!("{{\"seq\":{n},\"data\":{data}}}\n"),
        };
        let body = format!(
            r#"{{"items":[{{"channel":{},"formats":{{"http-stream":{{"content":{}}}}}}}]}}"#,
            json_string(&self.topic),
            json_string(&frame)
        );
        let request = format!(
            "POST /publish/ HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let mut conn = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to Pushpin's publish API at {}", self.addr))?;
        conn.set_nodelay(true)?;
        conn.write_all(request.as_bytes()).await?;
        let head = read_head(&mut conn).await?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!(
                "Pushpin refused a publish: {}",
                head.lines().next().unwrap_or("")
            );
        }
        // Read the short body ("Published\n") to its end, where Pushpin closes.
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await?;
        Ok(())
    }
}

/// `s` as a JSON string literal, quotes included.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_an_sse_frame_for_json() {
        let frame = "id: 1\ndata: {\"ts\":5,\"pad\":\"a\\b\"}\n\n";
        assert_eq!(
            json_string(frame),
            r#""id: 1\ndata: {\"ts\":5,\"pad\":\"a\\b\"}\n\n""#
        );
        assert_eq!(json_string("\t"), r#""\u0009""#);
    }
}
