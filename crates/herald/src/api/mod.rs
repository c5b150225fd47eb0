//! The HTTP API: one file per resource, one router built by [`router`].

pub mod auth;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod keys;
pub mod problem;
pub mod query;
pub mod request_id;
pub mod subscriptions;
pub mod topics;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};

use crate::config::WebhooksConfig;
use crate::webhook::dispatcher::Dispatcher;
use tokio_util::sync::CancellationToken;

use crate::config::{LimitsConfig, StreamsConfig};
use crate::core::log::Log;
use crate::transport;
use problem::Problem;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<Log>,
    pub limits: LimitsConfig,
    pub streams: StreamsConfig,
    pub webhooks: Arc<Dispatcher>,
    pub auth: Arc<crate::auth::Authenticator>,
    /// Publish rates and connection counts per caller.
    pub admission: Arc<crate::auth::limits::Admission>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Defaults for subscriptions that set no timeout or concurrency.
    pub webhook_defaults: WebhooksConfig,
    /// Cancelled when the server starts shutting down; long-lived responses end on it.
    pub shutdown: CancellationToken,
    /// What STOMP sessions share (`GET /v1/ws`).
    pub stomp: Arc<transport::stomp::Context>,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/topics", get(topics::list))
        .route("/v1/topics/{topic}", get(topics::get))
        .route("/v1/topics/{topic}/events", post(events::publish))
        .route("/v1/events", get(events::read))
        .route(
            "/v1/subscriptions",
            post(subscriptions::create).get(subscriptions::list),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(subscriptions::get)
                .patch(subscriptions::patch)
                .delete(subscriptions::delete),
        )
        .route(
            "/v1/subscriptions/{id}/rotate-secret",
            post(subscriptions::rotate_secret),
        )
        .route("/v1/subscriptions/{id}/replay", post(subscriptions::replay))
        .route(
            "/v1/subscriptions/{id}/deliveries",
            get(subscriptions::deliveries),
        )
        .route("/v1/deliveries/{id}/retry", post(deliveries::retry))
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/sse", get(transport::sse::handler))
        .route("/v1/stream", get(transport::ndjson::handler))
        .route("/v1/ws", get(transport::stomp::ws::handler))
        .route("/demo/chat", get(web::chat))
        .route("/demo/feed", get(web::feed))
        .route("/herald.js", get(web::herald_js))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are read with our own limit, which answers in problem+json.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!(
            "no route for {method} {}; the API is described in docs/DESIGN.md",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}
