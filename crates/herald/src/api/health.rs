//! `GET /healthz` (the process answers) and `GET /readyz` (and its store answers too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::problem::Problem;

/// Liveness.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers a query and the server is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    if state.shutdown.is_cancelled() {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down",
        ));
    }
    state.log.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "the store does not answer",
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}
