//! `GET /v1/ws`: STOMP over WebSocket. Subprotocols `v12.stomp`, `v11.stomp` and `v10.stomp`
//! (the highest offered wins); a client offering none still gets STOMP. A frame may span
//! several WebSocket messages and a message may hold several frames: the session's decoder
//! sees one byte stream either way.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use herald_codec::stomp::Version;
use tokio::sync::mpsc;

use super::{Context, session};
use crate::api::AppState;
use crate::api::auth::credential;
use crate::api::problem::Problem;
use crate::auth::AuthError;

/// Subprotocols in the server's order of preference, which is the order the upgrade picks by.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// Upgrades to WebSocket and runs a STOMP session on it.
/// Credentials on the upgrade request (`Authorization: Bearer` or `?token=`) are checked here,
/// with a 401 before any upgrade when they are wrong; without them, CONNECT's `passcode` decides.
#[utoipa::path(
    get,
    path = "/v1/ws",
    tag = "streams",
    params(("token" = Option<String>, Query, description = "A credential; otherwise CONNECT's `passcode` (or `Authorization`) decides")),
    responses(
        (status = 101, description = "WebSocket upgrade; subprotocols `v12.stomp`, `v11.stomp`, `v10.stomp`"),
        (status = "4XX", description = "Not a WebSocket upgrade, bad credentials, or too many connections", body = crate::api::openapi::ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Result<Response, Problem> {
    let ctx = state.stomp.clone();
    let from_loopback = peer.ip().is_loopback();
    let upgraded = match credential(&headers, query.as_deref()) {
        None => None,
        Some(credential) => match state
            .auth
            .authenticate(Some(&credential), from_loopback)
            .await
        {
            Ok(principal) => Some(principal),
            Err(AuthError::Store(e)) => return Err(e.into()),
            Err(e) => {
                return Err(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    e.to_string(),
                ));
            }
        },
    };
    let ws = ws
        .protocols(SUBPROTOCOLS)
        // tungstenite reserves its whole read buffer (128 KiB by default) for every connection;
        // STOMP frames from clients are small, and a larger one still arrives in several reads.
        .read_buffer_size(READ_BUFFER)
        // A message may carry a few frames; the decoder enforces the per-frame limit.
        .max_message_size(ctx.config.max_frame.saturating_mul(2));
    let offered = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(|p| match p {
            "v12.stomp" => Some(Version::V1_2),
            "v11.stomp" => Some(Version::V1_1),
            "v10.stomp" => Some(Version::V1_0),
            _ => None,
        });
    let peer = session::Peer {
        ip: peer.ip(),
        upgraded,
    };
    Ok(ws.on_upgrade(move |socket| connection(ctx, socket, offered, peer)))
}

/// Bytes read from a WebSocket at a time.
const READ_BUFFER: usize = 4 * 1024;

/// Most messages written before one flush.
const MAX_BATCH: usize = 256;

/// A STOMP frame as a WebSocket message: text suits browsers best; a frame that is not UTF-8
/// must go as binary.
fn to_message(frame: Bytes) -> Option<Message> {
    if std::str::from_utf8(&frame).is_ok() {
        Utf8Bytes::try_from(frame).ok().map(Message::Text)
    } else {
        Some(Message::Binary(frame))
    }
}

async fn connection(
    ctx: Arc<Context>,
    socket: WebSocket,
    offered: Option<Version>,
    peer: session::Peer,
) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(ctx.config.outbound_queue);
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let bytes = match message {
                Message::Text(text) => Bytes::from(text),
                Message::Binary(bytes) => bytes,
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if in_tx.send(bytes).await.is_err() {
                return;
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            // Everything queued goes out with one flush (one write for many messages); each
            // STOMP frame stays a WebSocket message of its own, as every client expects.
            let mut next = Some(frame);
            let mut fed = 0;
            while let Some(frame) = next.take() {
                let Some(message) = to_message(frame) else {
                    next = out_rx.try_recv().ok();
                    continue;
                };
                if sink.feed(message).await.is_err() {
                    return;
                }
                fed += 1;
                if fed < MAX_BATCH {
                    next = out_rx.try_recv().ok();
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    });
    session::run(ctx, in_rx, out_tx, offered, peer).await;
    reader.abort();
    let abort = writer.abort_handle();
    if tokio::time::timeout(std::time::Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}
