//! `GET /healthz` (the process answers) and `GET /readyz` (and its store answers too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
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

/// `GET /metrics`: Prometheus metrics (OpenMetrics text); needs an admin key.
pub async fn metrics(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    caller.require_admin()?;
    let m = &state.metrics;
    m.head.set(state.log.store().head() as i64);
    m.fallbacks.set(state.log.stats().fallbacks() as i64);
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        m.render(),
    )
        .into_response())
}
