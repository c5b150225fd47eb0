//! `GET /v1/stream`: chunked NDJSON, one event per line, blank lines as keep-alives.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_codec::ndjson;

use super::Format;
use crate::api::AppState;
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

    fn keepalive(&self) -> Bytes {
        Bytes::from_static(ndjson::KEEP_ALIVE)
    }

    fn farewell(&self, _reason: &str) -> Option<Bytes> {
        // NDJSON has no comment syntax: the stream just ends, and the client resumes with `after`.
        None
    }
}

/// Opens an NDJSON stream.
pub async fn handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let follower = super::open_follower(&state, query.as_deref(), &headers).await?;
    let body = super::body(
        follower,
        Ndjson,
        state.streams.keepalive.0,
        state.shutdown.clone(),
    );
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
