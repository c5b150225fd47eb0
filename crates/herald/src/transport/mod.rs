//! Long-lived transports. Each turns a [`Follower`] into bytes in its own format; the event
//! encodings themselves are shared (see [`crate::core::event::Event`]).

pub mod ndjson;
pub mod sse;
pub mod stomp;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::api::problem::Problem;
use crate::api::query::Query;
use crate::auth::Principal;
use crate::auth::limits::ConnectionGuard;
use crate::core::event::Event;
use crate::core::follow::{FollowError, Follower, Start};

/// How a stream format writes what it has to say.
pub(crate) trait Format: Send + 'static {
    /// Bytes sent before anything else.
    fn preamble(&self) -> Option<Bytes>;
    /// One event.
    fn event(&self, event: &Event) -> Bytes;
    /// Sent after `keepalive` of silence.
    fn keepalive(&self) -> Bytes;
    /// The transport's name in metrics.
    fn name(&self) -> &'static str;
    /// Sent just before the server ends the stream, saying why.
    fn farewell(&self, reason: &str) -> Option<Bytes>;
}

/// Validates a stream request and starts its follower: replay from `after`/`Last-Event-ID`, or
/// only new events when neither is given. Retention is checked here so the client gets a 410.
async fn open_follower(
    state: &AppState,
    caller: &Principal,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Follower, Problem> {
    let query = Query::parse(raw_query, &["topic", "after", "token"])?;
    let patterns = query.patterns()?;
    caller.require_subscribe(&patterns)?;
    let start = match query.start_after(headers)? {
        Some(after) => {
            state.log.ensure_retained(&patterns, after).await?;
            Start::After(after)
        }
        None => Start::Now,
    };
    Ok(state.log.follow(patterns, start))
}

/// Answers a stream request: validates it, then streams `format` with headers that keep
/// caches and proxies from holding it back.
pub(crate) async fn respond<F: Format>(
    state: &AppState,
    caller: &Principal,
    peer: std::net::IpAddr,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    format: F,
    content_type: &'static str,
) -> Result<Response, Problem> {
    let follower = open_follower(state, caller, raw_query, headers).await?;
    let admitted = state
        .admission
        .connect(peer, caller)
        .map_err(Problem::too_many_connections)?;
    // A stream opened with a client token ends when the token expires.
    let expires = caller.expires_ms().map(|ms| {
        let left = ms.saturating_sub(crate::core::event::now_ms()).max(0) as u64;
        tokio::time::Instant::now() + Duration::from_millis(left)
    });
    let body = body(
        follower,
        format,
        state.streams.keepalive.0,
        state.shutdown.clone(),
        expires,
        admitted,
        state.metrics.clone(),
    );
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The response body of a stream: events as they come, keep-alives when idle, and a clean end
/// at shutdown.
fn body<F: Format>(
    follower: Follower,
    format: F,
    keepalive: Duration,
    shutdown: CancellationToken,
    expires: Option<tokio::time::Instant>,
    admitted: ConnectionGuard,
    metrics: Arc<crate::metrics::Metrics>,
) -> Body {
    struct State<F> {
        /// Held while the stream lives: it counts against the caller's connection limits.
        _admitted: ConnectionGuard,
        _counted: crate::metrics::ConnectionCount,
        metrics: Arc<crate::metrics::Metrics>,
        follower: Follower,
        format: F,
        keepalive: Duration,
        shutdown: CancellationToken,
        expires: Option<tokio::time::Instant>,
        preamble: Option<Bytes>,
        done: bool,
    }
    let preamble = format.preamble();
    let counted = metrics.connection(format.name());
    let state = State {
        follower,
        format,
        keepalive,
        shutdown,
        expires,
        _admitted: admitted,
        _counted: counted,
        metrics,
        preamble,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if let Some(preamble) = s.preamble.take() {
            return Some((Ok::<_, Infallible>(preamble), s));
        }
        let chunk = tokio::select! {
            biased;
            () = s.shutdown.cancelled() => {
                s.done = true;
                s.format.farewell("server shutting down; reconnect to resume")?
            }
            () = sleep_until(s.expires) => {
                s.done = true;
                s.format.farewell("token expired; reconnect with a fresh token")?
            }
            next = s.follower.next() => match next {
                Ok(events) => {
                    s.metrics.sent(s.format.name(), events.len());
                    encode_batch(&s.format, &events)
                }
                Err(e) => {
                    s.done = true;
                    if !matches!(e, FollowError::Expired { .. }) {
                        tracing::warn!(error = %e, "stream ended");
                    }
                    s.format.farewell(&e.to_string())?
                }
            },
            () = tokio::time::sleep(s.keepalive) => s.format.keepalive(),
        };
        Some((Ok(chunk), s))
    });
    Body::from_stream(stream)
}

fn encode_batch<F: Format>(format: &F, events: &[Arc<Event>]) -> Bytes {
    if let [event] = events {
        return format.event(event);
    }
    let encoded: Vec<Bytes> = events.iter().map(|e| format.event(e)).collect();
    let mut out = BytesMut::with_capacity(encoded.iter().map(Bytes::len).sum());
    for bytes in encoded {
        out.extend_from_slice(&bytes);
    }
    out.freeze()
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
