//! `/v1/keys`: API keys (admin only). The key itself is shown once, at creation.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::events::json_body;
use super::problem::Problem;
use crate::auth::Scope;
use crate::core::event::{format_time, now_ms};
use crate::store::keys::StoredKey;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    scopes: Vec<String>,
    description: Option<String>,
}

fn entry(k: &StoredKey) -> Value {
    json!({
        "id": k.id,
        "scopes": k.scopes,
        "description": k.description,
        "created_at": format_time(k.created_ms),
        "revoked_at": k.revoked_ms.map(format_time),
    })
}

/// `POST /v1/keys`
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let request: CreateKey = json_body(body, &headers, state.limits.max_body, "key").await?;
    if request.scopes.is_empty() {
        return Err(Problem::bad_request(
            "invalid-key",
            "a key needs at least one scope",
        ));
    }
    let scopes: Vec<Scope> = request
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<_, _>>()
        .map_err(|e| Problem::bad_request("invalid-key", e))?;
    let (stored, key) = state.auth.create_key(&scopes, request.description).await?;
    let mut answer = entry(&stored);
    answer["key"] = key.into();
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v1/keys`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, Problem> {
    caller.require_admin()?;
    let keys = state.auth.store().keys().await?;
    Ok(Json(
        json!({ "keys": keys.iter().map(entry).collect::<Vec<_>>() }),
    ))
}

/// `DELETE /v1/keys/{id}`: revokes at once.
pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let Path(id) = path.map_err(|e| Problem::bad_request("invalid-parameter", e.body_text()))?;
    if state.auth.store().revoke_key(&id, now_ms()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::new(
            StatusCode::NOT_FOUND,
            "key-not-found",
            format!("no active key `{id}`"),
        ))
    }
}
