//! `GET /healthz` (the process answers) and `GET /readyz` (and its store answers too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::openapi::{ProblemDoc, StatusDoc};
use super::problem::Problem;

/// Liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process answers", body = StatusDoc))
)]
pub async fn healthz() -> Json<StatusDoc> {
    Json(StatusDoc {
        status: "ok".into(),
    })
}

/// Readiness: the store answers a query and the server is not shutting down.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready to serve", body = StatusDoc),
        (status = 503, description = "Shutting down, or the store does not answer", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<StatusDoc>, Problem> {
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
    Ok(Json(StatusDoc {
        status: "ready".into(),
    }))
}

/// `GET /metrics`: Prometheus metrics (OpenMetrics text); needs an admin key.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
        (status = "4XX", description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
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
