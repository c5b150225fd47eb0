//! The HTTP API: one file per resource, one router built by [`router`].

pub mod auth;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod keys;
pub mod openapi;
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
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// Every route, each with its OpenAPI description (`utoipa_axum::routes!` takes both from the
/// handler's `#[utoipa::path]`).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(topics::list))
        .routes(routes!(topics::get))
        .routes(routes!(events::publish))
        .routes(routes!(events::read))
        .routes(routes!(subscriptions::create, subscriptions::list))
        .routes(routes!(
            subscriptions::get,
            subscriptions::patch,
            subscriptions::delete
        ))
        .routes(routes!(subscriptions::rotate_secret))
        .routes(routes!(subscriptions::replay))
        .routes(routes!(subscriptions::deliveries))
        .routes(routes!(deliveries::get))
        .routes(routes!(deliveries::retry))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(transport::sse::handler))
        .routes(routes!(transport::ndjson::handler))
        .routes(routes!(transport::stomp::ws::handler))
        .routes(routes!(web::ui))
        .routes(routes!(web::ui_redirect))
        .routes(routes!(web::ui_js))
        .routes(routes!(web::chat))
        .routes(routes!(web::feed))
        .routes(routes!(web::herald_js))
}

/// The OpenAPI document of every route.
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// Every route, ready to serve.
pub fn router(state: AppState) -> Router {
    let (router, document) = routes().split_for_parts();
    openapi::set_document(&document);
    router
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
