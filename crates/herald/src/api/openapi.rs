//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.
//!
//! Every route is registered through `utoipa_axum::routes!` in [`super::router`], so a route
//! cannot exist without its `#[utoipa::path]` description, and the reply types below are the
//! types the handlers serialise. The event shapes are written by hand-tuned encoders
//! (`core::event`), so they are described here; `tests/openapi.rs` runs schemathesis against the
//! live server to prove the server keeps to the document.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A topic name: dot-separated tokens of `[A-Za-z0-9_-]`, 1–255 bytes.
pub const TOPIC: &str = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$";
/// A topic pattern: `*` is one token, a final `>` one or more.
pub const PATTERN: &str = r"^(>|([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?)$";

/// The document's static parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Publish an event once; consumers receive it over webhooks, STOMP, Server-Sent \
                       Events, NDJSON or long-polling, all from one durable log. The contract is \
                       docs/DESIGN.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "events", description = "Publish and read the log"),
        (name = "streams", description = "Long-lived streams: SSE, NDJSON, STOMP over WebSocket"),
        (name = "topics", description = "Topics and their statistics"),
        (name = "webhooks", description = "Webhook subscriptions and deliveries"),
        (name = "keys", description = "API keys"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "pages", description = "The dashboard and the demo apps"),
    ),
)]
pub struct ApiDoc;

/// Adds the bearer scheme: an API key or a JWT client token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "An API key (`hk_...`) or a JWT client token; `?token=` works where a client cannot \
             set headers (EventSource)."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    let body = DOCUMENT.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The document as served, rendered once when the router is built.
static DOCUMENT: OnceLock<Bytes> = OnceLock::new();

/// Renders the document for `GET /openapi.json` (the first router built wins; all are equal).
pub fn set_document(document: &utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        Bytes::from(
            document
                .to_pretty_json()
                .expect("the OpenAPI document serialises"),
        )
    });
}

/// An error: RFC 9457 problem details.
#[derive(Serialize, ToSchema)]
pub struct ProblemDoc {
    /// `urn:herald:problem:<slug>`, stable; e.g. `urn:herald:problem:invalid-topic`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// What went wrong and what to do about it.
    pub detail: String,
    /// On `events-expired`: the highest removed `seq`, from which to resume.
    pub resume_after: Option<u64>,
}

/// An event as stored and delivered.
#[derive(Serialize, ToSchema)]
pub struct EventDoc {
    /// Given by the producer or generated (a ULID); unique per topic.
    pub id: String,
    pub topic: String,
    /// Defaults to the topic.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 publish time, UTC, milliseconds.
    pub time: String,
    /// Position in the log: strictly increasing across all topics; a resume cursor.
    pub seq: u64,
    /// The payload (absent for binary payloads, which use `data_base64`).
    pub data: Option<serde_json::Value>,
    /// Present for a non-JSON payload.
    pub datacontenttype: Option<String>,
    /// A binary payload, base64.
    pub data_base64: Option<String>,
}

/// One event as a producer sends it.
#[derive(Serialize, ToSchema)]
pub struct PublishDoc {
    /// Defaults to the topic; 1–255 bytes, no control characters.
    #[serde(rename = "type")]
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,255}$")]
    pub event_type: Option<String>,
    /// Any JSON value.
    pub data: serde_json::Value,
    /// 1–128 characters of `[A-Za-z0-9._:-]`; publishing a stored id again stores nothing.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$")]
    pub id: Option<String>,
}

/// A publish body: one event, or a non-empty array appended atomically.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PublishBody {
    One(PublishDoc),
    Many(Vec<PublishDoc>),
}

/// What a publish answers: the stored event, or the stored events of an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Published {
    One(EventDoc),
    Many(Vec<EventDoc>),
}

/// A page of the log.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<EventDoc>,
    /// The last returned `seq`, or `after` when none: the next request's `after`.
    pub next_after: u64,
}

/// A status document (`/healthz`, `/readyz`).
#[derive(Serialize, ToSchema)]
pub struct StatusDoc {
    /// `ok` or `ready`.
    pub status: String,
}

/// The query of the streams (`/v1/sse`, `/v1/stream`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query for the document; `api::query::Query` parses it.
pub struct StreamParams {
    /// Topic patterns (repeatable): `orders.*`, `chat.>`.
    #[param(min_items = 1, inline, value_type = Vec<PatternDoc>)]
    topic: Vec<String>,
    /// Start after this seq (`Last-Event-ID` wins when both are given); 0 (the default) replays
    /// everything retained. Without it the stream starts at the head.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    after: Option<u64>,
    /// A credential, for clients that cannot send `Authorization` (EventSource).
    token: Option<String>,
}

/// A topic pattern, e.g. `orders.*` or `chat.>`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^(>|([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?)$")]
#[allow(dead_code)] // Only describes the strings.
pub struct PatternDoc(String);
