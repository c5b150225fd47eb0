//! The floor: a minimal Tokio broadcast server. Each event is encoded once and the same bytes
//! are written to every connection, with no routing, storage or HTTP framework: the fastest
//! this machine moves these bytes, against which Herald's figures are read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::Transport;

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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
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
                let mut frames = accepting.sender.subscribe();
                let connected = accepting.connected.clone();
                let content_type = match accepting.transport {
                    Transport::Sse => "text/event-stream",
                    Transport::Ndjson | Transport::Stomp | Transport::StompWs => {
                        "application/x-ndjson"
                    }
                };
                let stomp = accepting.transport == Transport::Stomp;
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    if socket.read(&mut request).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let _ = socket.set_nodelay(true);
                    if stomp {
                        // CONNECT arrived: answer it, then confirm the SUBSCRIBE that follows.
                        let _ = socket.write_all(b"CONNECTED\nversion:1.2\n\n\0").await;
                        if socket.read(&mut request).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if socket
                            .write_all(b"RECEIPT\nreceipt-id:sub\n\n\0")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    } else {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
                        );
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    connected.fetch_add(1, Ordering::SeqCst);
                    loop {
                        match frames.recv().await {
                            Ok(frame) => {
                                if socket.write_all(&frame).await.is_err() {
                                    return;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                });
            }
        });
        Ok(floor)
    }

    /// Waits until `n` subscribers have their response head.
    pub async fn wait_for(&self, n: usize) {
        while self.connected.load(Ordering::SeqCst) < n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Encodes one event once and hands the same bytes to every connection.
    pub fn broadcast(&self, data: &str) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = match self.transport {
            Transport::Sse => format!("id: {seq}\ndata: {{\"seq\":{seq},\"data\":{data}}}\n\n"),
            Transport::Ndjson => format!("{{\"seq\":{seq},\"data\":{data}}}\n"),
            // The floor refuses WebSocket at start; STOMP frames are the same bytes.
            Transport::Stomp | Transport::StompWs => format!(
                "MESSAGE\ndestination:/topic/bench\nsubscription:1\nmessage-id:{seq}\nseq:{seq}\ncontent-type:application/json\n\n{data}\0"
            ),
        };
        let _ = self.sender.send(Bytes::from(frame));
    }
}
