//! `/v1/deliveries/{id}`: one delivery with its request, and retrying it now.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Caller;
use super::openapi::ProblemDoc;
use super::problem::Problem;
use crate::webhook::model::{Delivery, DeliveryView};
use crate::webhook::worker::ControlError;

fn delivery_id(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(id)| id)
        .map_err(|e| Problem::bad_request("invalid-parameter", e.body_text()))
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "delivery-not-found",
        format!("no delivery `{id}`"),
    )
}

async fn load(state: &AppState, id: &str) -> Result<Delivery, Problem> {
    state
        .webhooks
        .store()
        .delivery(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /v1/deliveries/{id}`: the delivery, its attempts with the headers sent, and the request
/// body rebuilt from the log (absent once retention removed its events).
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's id (`dlv_...`)")),
    responses(
        (status = 200, description = "The delivery with its request", body = DeliveryView),
        (status = "4XX", description = "No such delivery, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeliveryView>, Problem> {
    caller.require_admin()?;
    let id = delivery_id(path)?;
    let delivery = load(&state, &id).await?;
    let mut view = delivery.view();
    let events = state.log.store().events_at(&delivery.event_seqs).await?;
    if !events.is_empty() && events.len() == delivery.event_seqs.len() {
        let body = crate::webhook::worker::body(&events, delivery.batch);
        view.request_body = Some(String::from_utf8_lossy(&body).into_owned());
    }
    Ok(Json(view))
}

/// `POST /v1/deliveries/{id}/retry`: schedules an immediate attempt, whatever its state.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's id (`dlv_...`)")),
    responses(
        (status = 202, description = "An attempt is scheduled now", body = DeliveryView),
        (status = "4XX", description = "No such delivery, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id = delivery_id(path)?;
    let delivery = load(&state, &id).await?;
    match state.webhooks.retry(delivery).await {
        Ok(delivery) => Ok((StatusCode::ACCEPTED, Json(delivery.view())).into_response()),
        Err(ControlError::Gone) => Err(not_found(&id)),
        Err(ControlError::Invalid(detail)) => {
            Err(Problem::bad_request("invalid-parameter", detail))
        }
        Err(ControlError::Store(e)) => Err(e.into()),
    }
}
