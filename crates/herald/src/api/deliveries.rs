//! `POST /v1/deliveries/{id}/retry`: try a delivery again now, whatever its state.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::webhook::worker::ControlError;

/// Schedules an immediate attempt.
pub async fn retry(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let Path(id) = path.map_err(|e| Problem::bad_request("invalid-parameter", e.body_text()))?;
    let not_found = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "delivery-not-found",
            format!("no delivery `{id}`"),
        )
    };
    let delivery = state
        .webhooks
        .store()
        .delivery(&id)
        .await?
        .ok_or_else(not_found)?;
    match state.webhooks.retry(delivery).await {
        Ok(delivery) => Ok((StatusCode::ACCEPTED, Json(delivery.to_json())).into_response()),
        Err(ControlError::Gone) => Err(not_found()),
        Err(ControlError::Invalid(detail)) => {
            Err(Problem::bad_request("invalid-parameter", detail))
        }
        Err(ControlError::Store(e)) => Err(e.into()),
    }
}
