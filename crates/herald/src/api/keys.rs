//! `/v1/keys`: API keys (admin only). The key itself is shown once, at creation.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::events::json_body;
use super::openapi::ProblemDoc;
use super::problem::Problem;
use crate::auth::Scope;
use crate::core::event::{format_time, now_ms};
use crate::store::keys::StoredKey;

/// `POST /v1/keys` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// `admin`, `publish:<pattern>`, `subscribe:<pattern>`.
    #[schema(min_items = 1, inline, value_type = Vec<ScopeDoc>)]
    scopes: Vec<String>,
    description: Option<String>,
}

/// A scope: `admin`, `publish:<pattern>` or `subscribe:<pattern>`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^(admin|(publish|subscribe):(>|([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?))$")]
#[allow(dead_code)] // Only describes the strings.
pub struct ScopeDoc(String);

/// An API key (never its secret, except once at creation).
#[derive(Serialize, ToSchema)]
pub struct KeyEntry {
    pub id: String,
    pub scopes: Vec<String>,
    pub description: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key itself: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `GET /v1/keys`
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyEntry>,
}

fn entry(k: &StoredKey) -> KeyEntry {
    KeyEntry {
        id: k.id.clone(),
        scopes: k.scopes.clone(),
        description: k.description.clone(),
        created_at: format_time(k.created_ms),
        revoked_at: k.revoked_ms.map(format_time),
        key: None,
    }
}

/// `POST /v1/keys`
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = KeyEntry),
        (status = "4XX", description = "Invalid body or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
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
    answer.key = Some(key);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v1/keys`
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every key, revoked ones too", body = KeyList),
        (status = "4XX", description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<KeyList>, Problem> {
    caller.require_admin()?;
    let keys = state.auth.store().keys().await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(entry).collect(),
    }))
}

/// `DELETE /v1/keys/{id}`: revokes at once.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = "4XX", description = "No such active key, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
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
