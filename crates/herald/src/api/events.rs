//! `POST /v1/topics/{topic}/events` (publish) and `GET /v1/events` (read, long-poll).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::AppState;
use super::auth::Caller;
use super::openapi::{EventsPage, ProblemDoc, PublishBody, Published};
use super::problem::Problem;
use super::query::Query;
use crate::core::event::{
    Event, NewEvent, Payload, compact_json, json_array, validate_id, validate_type,
};
use crate::core::follow::Start;
use crate::core::topic::Topic;

/// Largest `limit` a read may ask for.
pub const MAX_LIMIT: u64 = 1000;
/// Longest long-poll, in seconds.
pub const MAX_WAIT: u64 = 60;

/// One event as a producer sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishItem<'a> {
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
    id: Option<String>,
}

/// Publishes one event or an array of them.
#[utoipa::path(
    post,
    path = "/v1/topics/{topic}/events",
    tag = "events",
    params(("topic" = String, Path, pattern = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length = 255, description = "The topic, e.g. `orders.42`; not `herald.*`")),
    request_body(content = PublishBody, description = "One event, or an array appended atomically with consecutive seqs"),
    responses(
        (status = 201, description = "Stored (the stored event, or the array of them)", body = Published),
        (status = 200, description = "Every id was already stored: the stored events, nothing new", body = Published),
        (status = "4XX", description = "Invalid topic or body, not allowed, too large, or over the rate limit", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Shutting down", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let Path(topic) = path.map_err(|e| Problem::bad_request("invalid-topic", e.body_text()))?;
    let topic =
        Topic::parse(&topic).map_err(|e| Problem::bad_request("invalid-topic", e.to_string()))?;
    caller.require_publish(topic.as_str())?;
    if topic.is_system() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "reserved-topic",
            format!("topic `{topic}` is reserved: `herald.*` topics carry Herald's own events"),
        ));
    }
    check_json_content_type(&headers)?;
    let body = read_body(body, &headers, state.limits.max_body).await?;
    let (events, batch) = parse_publish_body(&body, &topic, state.limits.max_event)?;
    state
        .admission
        .publish(&caller, events.len())
        .map_err(Problem::rate_limited)?;
    let appended = state.log.publish(events).await?;
    for a in appended.iter().filter(|a| a.created) {
        state
            .metrics
            .published(&a.event.topic, a.event.payload.len());
    }
    let status = if appended.iter().any(|a| a.created) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let events: Vec<Arc<Event>> = appended.into_iter().map(|a| a.event).collect();
    let body = if batch {
        json_array(&events)
    } else {
        events[0].json()
    };
    Ok(json_response(status, body))
}

/// Parses a publish body (one event object or an array of them) into events for `topic`,
/// checking every field; `batch` tells whether the body was an array. Never panics, whatever the
/// bytes (fuzzed by `crates/herald/fuzz`).
pub fn parse_publish_body(
    body: &[u8],
    topic: &Topic,
    max_event: usize,
) -> Result<(Vec<NewEvent>, bool), Problem> {
    let (items, batch) = parse_items(body)?;
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = |msg: String| {
            if batch {
                format!("event [{i}]: {msg}")
            } else {
                msg
            }
        };
        if let Some(id) = &item.id {
            validate_id(id).map_err(|e| Problem::bad_request("invalid-event", at(e)))?;
        }
        if let Some(t) = &item.event_type {
            validate_type(t).map_err(|e| Problem::bad_request("invalid-event", at(e)))?;
        }
        let data = compact_json(item.data.get());
        if data.len() > max_event {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "event-too-large",
                at(format!(
                    "data is {} bytes; the limit is {max_event} (limits.max_event)",
                    data.len()
                )),
            ));
        }
        events.push(NewEvent {
            topic: topic.clone(),
            id: item.id,
            event_type: item.event_type,
            payload: Payload::Json(data),
            headers: Vec::new(),
        });
    }
    Ok((events, batch))
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // `curl -d` labels bodies as form data by default; the body is still parsed as JSON, so the
    // quick start works without `-H content-type:...`.
    if essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
    {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!("send the event as JSON (content-type: application/json), not `{essence}`"),
    ))
}

/// Reads a JSON request body into `T` (unknown fields are refused by `T`); `what` names the
/// document in the error, e.g. "subscription".
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    what: &str,
) -> Result<T, Problem> {
    let bytes = read_body(body, headers, limit).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request("invalid-json", format!("invalid {what} JSON: {e}")))
}

pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body exceeds {limit} bytes (limits.max_body)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(Problem::bad_request(
            "unreadable-body",
            format!("could not read the request body: {e}"),
        )),
    }
}

fn parse_items(body: &[u8]) -> Result<(Vec<PublishItem<'_>>, bool), Problem> {
    let invalid = |e: serde_json::Error| {
        Problem::bad_request("invalid-json", format!("invalid event JSON: {e}"))
    };
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok((vec![serde_json::from_slice(body).map_err(invalid)?], false)),
        Some(b'[') => {
            let items: Vec<PublishItem<'_>> = serde_json::from_slice(body).map_err(invalid)?;
            if items.is_empty() {
                return Err(Problem::bad_request(
                    "invalid-json",
                    "the batch is empty; send at least one event",
                ));
            }
            Ok((items, true))
        }
        _ => Err(Problem::bad_request(
            "invalid-json",
            "the body must be a JSON object {\"data\": ...} or an array of them",
        )),
    }
}

/// The query of `GET /v1/events`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query for the document; `Query` parses it.
struct ReadParams {
    /// Topic patterns (repeatable): `orders.*`, `chat.>`.
    #[param(min_items = 1, inline, value_type = Vec<super::openapi::PatternDoc>)]
    topic: Vec<String>,
    /// Return events with a greater seq; 0 (the default) means from the oldest retained.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    after: Option<u64>,
    /// At most this many events (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Seconds to wait for a first event when there is none yet (a long-poll).
    #[param(minimum = 0, maximum = 60)]
    wait: Option<u64>,
    /// A credential, for clients that cannot send `Authorization`.
    token: Option<String>,
}

/// Reads the log, optionally waiting up to `wait` seconds for the first event.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(ReadParams),
    responses(
        (status = 200, description = "Matching events, oldest first", body = EventsPage),
        (status = 410, description = "Retention removed events after `after`; resume from `resume_after`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "Invalid query or not allowed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Shutting down", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn read(
    Caller(caller): Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let query = Query::parse(
        raw.as_deref(),
        &["topic", "after", "limit", "wait", "token"],
    )?;
    let patterns = query.patterns()?;
    caller.require_subscribe(&patterns)?;
    let after = query.number("after", 0, i64::MAX as u64)?.unwrap_or(0);
    let limit = query.number("limit", 1, MAX_LIMIT)?.unwrap_or(100) as usize;
    let wait = query.number("wait", 0, MAX_WAIT)?.unwrap_or(0);
    let mut events = state.log.read(&patterns, after, limit).await?;
    if events.is_empty() && wait > 0 {
        // A waiting long-poll is a long-lived connection like a stream.
        let _admitted = state
            .admission
            .connect(peer.ip(), &caller)
            .map_err(Problem::too_many_connections)?;
        let _counted = state.metrics.connection("longpoll");
        let mut follower = state.log.follow(patterns, Start::After(after));
        tokio::select! {
            found = follower.next() => events = found?,
            () = tokio::time::sleep(Duration::from_secs(wait)) => {}
            () = state.shutdown.cancelled() => {}
        }
        events.truncate(limit);
    }
    let next_after = events.last().map_or(after, |e| e.seq);
    let mut body = BytesMut::new();
    body.put_slice(b"{\"events\":");
    body.put_slice(&json_array(&events));
    body.put_slice(format!(",\"next_after\":{next_after}}}").as_bytes());
    Ok(json_response(StatusCode::OK, body.freeze()))
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
