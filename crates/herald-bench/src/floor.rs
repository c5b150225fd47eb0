//! The floor: a minimal Tokio broadcast server. Each event is encoded once and the same bytes
//! are written to every connection, with no routing, storage or HTTP framework: the fastest
//! this machine moves these bytes, against which Herald's figures are read.
//!
//! Like Herald's writers, each connection writes everything already queued for it with one
//! write, so neither side pays a syscall per frame when subscribers fall behind.
//!
//! It speaks just enough of each transport for the generator: an HTTP response head for SSE and
//! NDJSON; CONNECTED and a RECEIPT for STOMP; and for STOMP over WebSocket the HTTP upgrade
//! first, then the same STOMP frames, each in an unmasked WebSocket text message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use base64::Engine;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use crate::Transport;

/// Most frames one connection writes with one write (Herald's WebSocket writer uses the same).
const MAX_BATCH: usize = 256;

/// A running floor server.
#[derive(Clone)]
pub struct Floor {
    pub addr: SocketAddr,
    sender: broadcast::Sender<Bytes>,
    connected: Arc<AtomicUsize>,
    seq: Arc<AtomicU64>,
    transport: Transport,
}

impl Floor {
    /// Listens on a free loopback port.
    pub async fn start(transport: Transport) -> anyhow::Result<Self> {
        // A deep accept queue: 10,000 subscribers connect as fast as they can.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.1:0".parse()?)?;
        let listener = socket.listen(16_384)?;
        let floor = Self {
            addr: listener.local_addr()?,
            sender: broadcast::channel(4096).0,
            connected: Arc::default(),
            seq: Arc::default(),
            transport,
        };
        let accepting = floor.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let frames = accepting.sender.subscribe();
                let connected = accepting.connected.clone();
                tokio::spawn(async move {
                    let _ = socket.set_nodelay(true);
                    if handshake(&mut socket, transport).await.is_err() {
                        return;
                    }
                    connected.fetch_add(1, Ordering::SeqCst);
                    write_frames(socket, frames).await;
                });
            }
        });
        Ok(floor)
    }

    /// Waits until `n` subscribers are ready for frames.
    pub async fn wait_for(&self, n: usize) {
        while self.connected.load(Ordering::SeqCst) < n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Encodes one event once and hands the same bytes to every connection.
    pub fn broadcast(&self, data: &str) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let stomp = || {
            format!(
                "MESSAGE\ndestination:/topic/bench\nsubscription:1\nmessage-id:{seq}\nseq:{seq}\ncontent-type:application/json\n\n{data}\0"
            )
        };
        let frame = match self.transport {
            Transport::Sse => {
                format!("id: {seq}\ndata: {{\"seq\":{seq},\"data\":{data}}}\n\n").into_bytes()
            }
            Transport::Ndjson => format!("{{\"seq\":{seq},\"data\":{data}}}\n").into_bytes(),
            Transport::Stomp => stomp().into_bytes(),
            Transport::StompWs => ws_text(stomp().as_bytes()),
        };
        let _ = self.sender.send(Bytes::from(frame));
    }
}

/// Answers whatever the generator sends before the stream starts (see `http.rs`).
async fn handshake(socket: &mut TcpStream, transport: Transport) -> anyhow::Result<()> {
    let mut request = [0u8; 1024];
    match transport {
        Transport::Sse | Transport::Ndjson => {
            read_some(socket, &mut request).await?;
            let content_type = match transport {
                Transport::Sse => "text/event-stream",
                _ => "application/x-ndjson",
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await?;
        }
        Transport::Stomp => {
            // CONNECT arrives first (one read holds it: the client waits for the answer), then
            // SUBSCRIBE, which the client wants confirmed.
            read_some(socket, &mut request).await?;
            socket.write_all(b"CONNECTED\nversion:1.2\n\n\0").await?;
            read_some(socket, &mut request).await?;
            socket.write_all(b"RECEIPT\nreceipt-id:sub\n\n\0").await?;
        }
        Transport::StompWs => {
            let head = read_head(socket).await?;
            let key = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| value.trim())
                })
                .ok_or_else(|| anyhow::anyhow!("no sec-websocket-key"))?;
            let upgrade = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-accept: {}\r\nsec-websocket-protocol: v12.stomp\r\n\r\n",
                accept_key(key)
            );
            socket.write_all(upgrade.as_bytes()).await?;
            // The same two steps as over TCP, each message masked by the client (its content is
            // not needed) and each answer in a WebSocket message.
            read_some(socket, &mut request).await?;
            socket
                .write_all(&ws_text(b"CONNECTED\nversion:1.2\n\n\0"))
                .await?;
            read_some(socket, &mut request).await?;
            socket
                .write_all(&ws_text(b"RECEIPT\nreceipt-id:sub\n\n\0"))
                .await?;
        }
    }
    Ok(())
}

/// Writes every frame broadcast from now on: after each one received, takes all those already
/// queued (up to `MAX_BATCH`) and writes them together.
async fn write_frames(mut socket: TcpStream, mut frames: broadcast::Receiver<Bytes>) {
    let mut batch = Vec::new();
    loop {
        match frames.recv().await {
            Ok(frame) => batch.extend_from_slice(&frame),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
        for _ in 1..MAX_BATCH {
            match frames.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        if socket.write_all(&batch).await.is_err() {
            return;
        }
        batch.clear();
    }
}

/// One read; an error if the peer closed.
async fn read_some(socket: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<()> {
    if socket.read(buf).await? == 0 {
        anyhow::bail!("the client closed the connection");
    }
    Ok(())
}

/// Reads an HTTP request head, up to and including its blank line.
async fn read_head(socket: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            anyhow::bail!("no complete request head");
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455, section 4.2.2): the base64 of the SHA-1
/// of the key followed by the protocol's fixed GUID.
fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// A server's (unmasked) WebSocket text message holding `payload`.
fn ws_text(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81); // FIN, text
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn ws_text_frames_carry_the_length_in_the_smallest_form() {
        assert_eq!(ws_text(b"hi"), [0x81, 2, b'h', b'i']);
        let medium = ws_text(&[b'x'; 200]);
        assert_eq!(&medium[..4], &[0x81, 126, 0, 200]);
        assert_eq!(medium.len(), 204);
    }

    #[tokio::test]
    async fn a_stomp_ws_subscriber_gets_the_broadcast_in_order() {
        let floor = Floor::start(Transport::StompWs).await.unwrap();
        let mut stream = crate::http::open_stomp_ws(floor.addr, "/ws", None)
            .await
            .unwrap();
        crate::http::subscribe_ws(&mut stream, "t").await.unwrap();
        floor.wait_for(1).await;
        for i in 0..3 {
            floor.broadcast(&format!("{{\"n\":{i}}}"));
        }
        let mut received = Vec::new();
        while !String::from_utf8_lossy(&received).contains("{\"n\":2}") {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the floor closed the connection");
            received.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&received);
        let positions: Vec<_> = (0..3)
            .map(|i| text.find(&format!("{{\"n\":{i}}}")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|p| p[0] < p[1]), "{text}");
        assert_eq!(received[0], 0x81, "an unmasked text message");
    }
}
