//! `GET /v1/topics` and `GET /v1/topics/{topic}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::openapi::ProblemDoc;
use super::problem::Problem;
use crate::core::event::format_time;
use crate::core::topic::Topic;
use crate::store::TopicInfo;

/// A topic and its statistics.
#[derive(Serialize, ToSchema)]
pub struct TopicEntry {
    pub topic: String,
    /// Events currently retained.
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// RFC 3339 time of the last publish.
    pub last_published_at: Option<String>,
    /// Events published to this topic in the last 60 seconds (through this node).
    pub events_last_minute: u64,
}

/// `GET /v1/topics`
#[derive(Serialize, ToSchema)]
pub struct TopicList {
    pub topics: Vec<TopicEntry>,
}

fn entry(state: &AppState, t: &TopicInfo) -> TopicEntry {
    TopicEntry {
        topic: t.topic.clone(),
        events: t.events,
        first_seq: t.first_seq,
        last_seq: t.last_seq,
        last_published_at: t.last_published_ms.map(format_time),
        events_last_minute: state.log.rates().last_minute(&t.topic),
    }
}

/// Every topic the caller may read, with its statistics.
#[utoipa::path(
    get,
    path = "/v1/topics",
    tag = "topics",
    responses(
        (status = 200, description = "The topics", body = TopicList),
        (status = "4XX", description = "Not allowed", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<TopicList>, Problem> {
    let mut topics = state.log.store().topics().await?;
    topics.retain(|t| caller.may_read(&t.topic));
    Ok(Json(TopicList {
        topics: topics.iter().map(|t| entry(&state, t)).collect(),
    }))
}

/// One topic's statistics.
#[utoipa::path(
    get,
    path = "/v1/topics/{topic}",
    tag = "topics",
    params(("topic" = String, Path, pattern = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length = 255, description = "A topic name, e.g. `orders.42`")),
    responses(
        (status = 200, description = "The topic", body = TopicEntry),
        (status = "4XX", description = "Invalid name, not allowed, or never published to", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TopicEntry>, Problem> {
    let Path(name) = path.map_err(|e| Problem::bad_request("invalid-topic", e.body_text()))?;
    let topic =
        Topic::parse(&name).map_err(|e| Problem::bad_request("invalid-topic", e.to_string()))?;
    if !caller.may_read(topic.as_str()) {
        return Err(crate::auth::Forbidden(format!(
            "this key may not read `{topic}`; it needs a `subscribe:` scope matching it"
        ))
        .into());
    }
    match state.log.store().topic(topic.as_str()).await? {
        Some(t) => Ok(Json(entry(&state, &t))),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "topic-not-found",
            format!("topic `{topic}` has never been published to"),
        )),
    }
}
