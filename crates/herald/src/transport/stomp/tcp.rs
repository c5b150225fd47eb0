//! STOMP over TCP (optionally TLS): one reader and one writer task per connection around a session.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::{Context, session};

/// How long a closing connection may take to flush its last frames to a slow peer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closed connection keeps draining what the peer still sends.
const LINGER: Duration = Duration::from_secs(1);
/// Largest single write, so one busy connection batches frames without hoarding memory.
const WRITE_BATCH: usize = 64 * 1024;

/// Accepts connections until shutdown; each runs on `tasks`, so shutdown can wait for them.
pub async fn serve(ctx: Arc<Context>, listener: TcpListener, tasks: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    match ctx.tls.clone() {
                        None => connection(ctx, stream, peer.ip()).await,
                        Some(tls) => {
                            // The handshake shares CONNECT's deadline, so a silent peer cannot hold a task.
                            match tokio::time::timeout(ctx.config.connect_timeout.0, tls.accept(stream)).await {
                                Ok(Ok(stream)) => connection(ctx, stream, peer.ip()).await,
                                _ => tracing::debug!(%peer, "STOMP TLS handshake failed or timed out"),
                            }
                        }
                    }
                });
            }
            Err(e) => {
                // Usually out of file descriptors: wait rather than spin.
                tracing::warn!(error = %e, "STOMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection<S>(ctx: Arc<Context>, stream: S, ip: std::net::IpAddr)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(ctx.config.outbound_queue);
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(16 * 1024);
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let chunk = buf.split().freeze();
                    // Once the session is over, keep reading (and dropping) what the peer still
                    // sends: closing with unread bytes would reset the connection and could
                    // destroy the ERROR frame on its way to the peer.
                    if !in_tx.is_closed() {
                        let _ = in_tx.send(chunk).await;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut batch = BytesMut::new();
        while let Some(first) = out_rx.recv().await {
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                match out_rx.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if wr.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
        let _ = wr.shutdown().await;
    });
    let peer = session::Peer { ip, upgraded: None };
    session::run(ctx, in_rx, out_tx, None, peer).await;
    let abort = writer.abort_handle();
    if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
        abort.abort();
    }
    // The writer sent FIN; give the peer a moment to see it and close its side.
    let abort = reader.abort_handle();
    if tokio::time::timeout(LINGER, reader).await.is_err() {
        abort.abort();
    }
}
