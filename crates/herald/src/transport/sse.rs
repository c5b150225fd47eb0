//! `GET /v1/sse`: Server-Sent Events for `EventSource`. `id:` is the event's `seq`, so a
//! browser's automatic reconnect (with `Last-Event-ID`) resumes exactly where it stopped.

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use herald_codec::sse;

use super::Format;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::core::event::Event;

/// How long a browser waits before reconnecting, sent as the stream's first field.
const RETRY_MS: u64 = 2000;

struct Sse;

impl Format for Sse {
    fn preamble(&self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        sse::encode_retry(RETRY_MS, &mut out);
        Some(out.freeze())
    }

    fn event(&self, event: &Event) -> Bytes {
        event.sse_frame()
    }

    fn name(&self) -> &'static str {
        "sse"
    }

    fn keepalive(&self) -> Bytes {
        Bytes::from_static(b": keep-alive\n\n")
    }

    fn farewell(&self, reason: &str) -> Option<Bytes> {
        let mut out = BytesMut::new();
        sse::encode_comment(reason, &mut out);
        Some(out.freeze())
    }
}

/// Opens an event stream.
#[utoipa::path(
    get,
    path = "/v1/sse",
    tag = "streams",
    params(crate::api::openapi::StreamParams),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` is the seq, `data:` the event JSON; never ends on its own", content_type = "text/event-stream"),
        (status = "4XX", description = "Invalid query, not allowed, expired `after`, or too many connections", body = crate::api::openapi::ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn handler(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    super::respond(
        &state,
        &caller,
        peer.ip(),
        query.as_deref(),
        &headers,
        Sse,
        "text/event-stream",
    )
    .await
}
