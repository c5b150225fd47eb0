//! `GET /v1/topics` and `GET /v1/topics/{topic}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::core::event::format_time;
use crate::core::topic::Topic;
use crate::store::TopicInfo;

fn entry(t: &TopicInfo) -> Value {
    json!({
        "topic": t.topic,
        "events": t.events,
        "first_seq": t.first_seq,
        "last_seq": t.last_seq,
        "last_published_at": t.last_published_ms.map(format_time),
    })
}

/// Every topic with its statistics.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, Problem> {
    let mut topics = state.log.store().topics().await?;
    topics.retain(|t| caller.may_read(&t.topic));
    Ok(Json(
        json!({ "topics": topics.iter().map(entry).collect::<Vec<_>>() }),
    ))
}

/// One topic's statistics.
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, Problem> {
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
        Some(t) => Ok(Json(entry(&t))),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "topic-not-found",
            format!("topic `{topic}` has never been published to"),
        )),
    }
}
