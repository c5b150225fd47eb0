//! `GET /v1/stream`: chunked NDJSON, one event per line, blank lines as keep-alives.

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use herald_codec::ndjson;

use super::Format;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::core::event::Event;

struct Ndjson;

impl Format for Ndjson {
    fn preamble(&self) -> Option<Bytes> {
        None
    }

    fn event(&self, event: &Event) -> Bytes {
        event.ndjson_line()
    }

    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn keepalive(&self) -> Bytes {
        Bytes::from_static(ndjson::KEEP_ALIVE)
    }

    fn farewell(&self, _reason: &str) -> Option<Bytes> {
        // NDJSON has no comment syntax: the stream just ends, and the client resumes with `after`.
        None
    }
}

/// Opens an NDJSON stream.
#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "streams",
    params(crate::api::openapi::StreamParams),
    responses(
        (status = 200, description = "One event JSON per line, blank keep-alive lines; never ends on its own", content_type = "application/x-ndjson"),
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
        Ndjson,
        "application/x-ndjson",
    )
    .await
}
