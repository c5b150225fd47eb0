//! `/v1/subscriptions`: webhook subscriptions, their secrets, replays and deliveries.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::events::json_body;
use super::openapi::ProblemDoc;
use super::problem::Problem;
use super::query::Query;
use crate::config::Duration;
use crate::core::event::format_time;
use crate::core::event::{now_ms, validate_type};
use crate::core::topic::Pattern;
use crate::webhook::model::{
    Batch, DeliveryList, Health, Spec, State as SubState, Status, Subscription, SubscriptionList,
    SubscriptionView, new_id,
};
use crate::webhook::signature::generate_secret;
use crate::webhook::ssrf::Guard;
use crate::webhook::worker::ControlError;

/// How long a rotated-out secret keeps signing alongside the new one.
const ROTATION_GRACE_MS: i64 = 24 * 3600 * 1000;

/// The fields a client may set; absent fields keep their value (or default on create, where
/// `url` and `topics` are required).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// An http(s) URL outside private networks (unless `webhooks.allow_networks` allows it).
    #[schema(
        pattern = r"^https?://[a-z0-9-]+(\.[a-z0-9-]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$",
        max_length = 2048
    )]
    url: Option<String>,
    /// 1 to 100 topic patterns.
    #[schema(min_items = 1, max_items = 100, inline, value_type = Option<Vec<super::openapi::PatternDoc>>)]
    topics: Option<Vec<String>>,
    /// Event types to deliver; empty means all.
    types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// Extra request headers (at most 32; not `webhook-*` nor hop-by-hop ones).
    headers: Option<BTreeMap<String, String>>,
    /// Delays before each retry (at most 7d each): `["5s", "5m", "1h"]`.
    #[schema(max_items = 20, inline, value_type = Option<Vec<DurationDoc>>)]
    retry_schedule: Option<Vec<String>>,
    /// From `100ms` to `2m`.
    #[schema(pattern = r"^([1-9][0-9]{2,4}ms|([1-9]|[1-9][0-9]|1[01][0-9]|120)s|[12]m)$")]
    timeout: Option<String>,
    /// Requests per second at most; `null` for unlimited.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 100000)]
    rate_limit: Option<Option<f64>>,
    /// Concurrent requests at most (1–1000).
    #[schema(minimum = 1, maximum = 1000)]
    max_in_flight: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Batch>)]
    batch: Option<Option<Batch>>,
    /// One at a time, in order.
    ordered: Option<bool>,
    enabled: Option<bool>,
}

/// A new subscription, as the document describes it: [`Fields`] with `url` and `topics` required.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Only describes the body; `Fields` parses it.
pub struct NewSubscription {
    #[schema(
        pattern = r"^https?://[a-z0-9-]+(\.[a-z0-9-]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$",
        max_length = 2048
    )]
    url: String,
    #[schema(min_items = 1, max_items = 100, inline, value_type = Vec<super::openapi::PatternDoc>)]
    topics: Vec<String>,
    #[serde(flatten)]
    rest: Fields,
}

/// A duration such as `5s`, `10m`, `1h`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[1-9][0-9]{0,2}(ms|s|m|h)$")]
#[allow(dead_code)] // Only describes the strings.
pub struct DurationDoc(String);

/// Tells "absent" (outer `None`) from `null` (`Some(None)`).
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "user-agent",
];

impl Fields {
    /// Applies the fields to `spec` (and the state), checking each.
    fn apply(self, spec: &mut Spec, state: &mut SubState, guard: &Guard) -> Result<(), String> {
        if let Some(url) = self.url {
            let parsed: reqwest::Url = url
                .parse()
                .map_err(|e| format!("url `{url}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "url must be http or https, got `{}`",
                    parsed.scheme()
                ));
            }
            if url.len() > 2048 {
                return Err("url must be at most 2048 characters".into());
            }
            guard.check_url(&parsed).map_err(|e| format!("url: {e}"))?;
            spec.url = url;
        }
        if let Some(topics) = self.topics {
            if topics.is_empty() || topics.len() > 100 {
                return Err("topics must list 1 to 100 patterns".into());
            }
            for t in &topics {
                Pattern::parse(t).map_err(|e| e.to_string())?;
            }
            spec.topics = topics;
        }
        if let Some(types) = self.types {
            for t in &types {
                validate_type(t)?;
            }
            spec.types = types;
        }
        if let Some(description) = self.description {
            spec.description = description;
        }
        if let Some(headers) = self.headers {
            if headers.len() > 32 {
                return Err("at most 32 custom headers".into());
            }
            for (name, value) in &headers {
                let lower = name.to_ascii_lowercase();
                if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                    return Err(format!(
                        "header `{name}` is set by Herald and cannot be overridden"
                    ));
                }
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a valid header name"))?;
                reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| format!("header `{name}` has an invalid value"))?;
            }
            spec.headers = headers;
        }
        if let Some(schedule) = self.retry_schedule {
            if schedule.len() > 20 {
                return Err("retry_schedule may list at most 20 delays".into());
            }
            let parsed: Result<Vec<Duration>, String> =
                schedule.iter().map(|d| d.parse()).collect();
            let parsed = parsed.map_err(|e| format!("retry_schedule: {e}"))?;
            if parsed
                .iter()
                .any(|d| d.0 > std::time::Duration::from_secs(7 * 86_400))
            {
                return Err("retry_schedule delays must be at most 7d".into());
            }
            spec.retry_schedule = parsed;
        }
        if let Some(timeout) = self.timeout {
            let t: Duration = timeout.parse().map_err(|e| format!("timeout: {e}"))?;
            if t.0 < std::time::Duration::from_millis(100)
                || t.0 > std::time::Duration::from_secs(120)
            {
                return Err("timeout must be from 100ms to 2m".into());
            }
            spec.timeout = t;
        }
        if let Some(rate) = self.rate_limit {
            if rate.is_some_and(|r| !(r.is_finite() && r > 0.0 && r <= 100_000.0)) {
                return Err(
                    "rate_limit must be a number of requests per second above 0 (at most 100000)"
                        .into(),
                );
            }
            spec.rate_limit = rate;
        }
        if let Some(n) = self.max_in_flight {
            if !(1..=1000).contains(&n) {
                return Err("max_in_flight must be from 1 to 1000".into());
            }
            spec.max_in_flight = n;
        }
        if let Some(batch) = self.batch {
            if let Some(b) = batch
                && (!(1..=1000).contains(&b.max_events) || b.max_wait_ms > 60_000)
            {
                return Err(
                    "batch.max_events must be from 1 to 1000 and batch.max_wait_ms at most 60000"
                        .into(),
                );
            }
            spec.batch = batch;
        }
        if let Some(ordered) = self.ordered {
            spec.ordered = ordered;
        }
        if let Some(enabled) = self.enabled {
            *state = if enabled {
                SubState::Enabled
            } else {
                SubState::Disabled
            };
        }
        Ok(())
    }
}

async fn parse_fields(
    body: Body,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Fields, Problem> {
    json_body(body, headers, state.limits.max_body, "subscription").await
}

fn id_from(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(id)| id)
        .map_err(|e| Problem::bad_request("invalid-parameter", e.body_text()))
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "subscription-not-found",
        format!("no subscription `{id}`"),
    )
}

fn control_problem(id: &str, e: ControlError) -> Problem {
    match e {
        ControlError::Invalid(detail) => Problem::bad_request("invalid-subscription", detail),
        ControlError::Gone => not_found(id),
        ControlError::Store(e) => e.into(),
    }
}

/// `POST /v1/subscriptions`
#[utoipa::path(
    post,
    path = "/v1/subscriptions",
    tag = "webhooks",
    request_body(content = NewSubscription, description = "`url` and `topics` are required"),
    responses(
        (status = 201, description = "Created, with its signing `secret`", body = SubscriptionView),
        (status = "4XX", description = "Invalid body (e.g. a URL in a private network) or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let fields = parse_fields(body, &headers, &state).await?;
    if fields.url.is_none() || fields.topics.is_none() {
        return Err(Problem::bad_request(
            "invalid-subscription",
            "a subscription needs `url` and `topics`",
        ));
    }
    let defaults = &state.webhook_defaults;
    let mut spec = Spec {
        url: String::new(),
        topics: Vec::new(),
        types: Vec::new(),
        description: None,
        headers: BTreeMap::new(),
        retry_schedule: crate::webhook::retry::DEFAULT_SCHEDULE
            .iter()
            .map(|d| Duration(*d))
            .collect(),
        timeout: defaults.timeout,
        rate_limit: None,
        max_in_flight: defaults.max_in_flight,
        batch: None,
        ordered: false,
    };
    let mut sub_state = SubState::Enabled;
    let guard = state.webhooks.sender().guard();
    fields
        .apply(&mut spec, &mut sub_state, guard)
        .map_err(|e| Problem::bad_request("invalid-subscription", e))?;
    let sub = Subscription {
        id: new_id("sub"),
        spec,
        state: sub_state,
        disabled_reason: (sub_state == SubState::Disabled)
            .then(|| "disabled at creation".to_owned()),
        secret: generate_secret(),
        previous_secret: None,
        previous_secret_expires_ms: None,
        // A new subscription receives events published from now on.
        cursor: state.log.store().head(),
        failing_since_ms: None,
        created_ms: now_ms(),
    };
    state.webhooks.create(sub.clone()).await?;
    Ok((StatusCode::CREATED, Json(sub.view(None))).into_response())
}

/// How a subscription's endpoint is doing, from its open and recent deliveries.
async fn health(state: &AppState, sub: &Subscription) -> Result<Health, Problem> {
    let store = state.webhooks.store();
    let open = store.open_deliveries(&sub.id).await?;
    let recent = store.deliveries(&sub.id, None, 100).await?;
    let attempts = recent.iter().flat_map(|d| &d.attempts);
    let (tried, succeeded) = attempts.fold((0u32, 0u32), |(n, ok), a| {
        let success = a.status_code.is_some_and(|c| (200..300).contains(&c));
        (n + 1, ok + u32::from(success))
    });
    let last = recent
        .iter()
        .flat_map(|d| &d.attempts)
        .max_by_key(|a| a.at_ms);
    Ok(Health {
        queue_depth: open.len() as u64,
        oldest_open_at: open.iter().map(|d| d.created_ms).min().map(format_time),
        last_attempt_at: last.map(|a| format_time(a.at_ms)),
        last_status_code: last.and_then(|a| a.status_code),
        last_error: last.and_then(|a| a.error.clone()),
        success_rate: (tried > 0).then(|| f64::from(succeeded) / f64::from(tried)),
        failing_since: sub.failing_since_ms.map(format_time),
    })
}

/// `GET /v1/subscriptions`
#[utoipa::path(
    get,
    path = "/v1/subscriptions",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every subscription, oldest first, with its health", body = SubscriptionList),
        (status = "4XX", description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<SubscriptionList>, Problem> {
    caller.require_admin()?;
    let subs = state.webhooks.store().subscriptions().await?;
    let mut views = Vec::with_capacity(subs.len());
    for sub in &subs {
        views.push(sub.view(Some(health(&state, sub).await?)));
    }
    Ok(Json(SubscriptionList {
        subscriptions: views,
    }))
}

/// `GET /v1/subscriptions/{id}`
#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id (`sub_...`)")),
    responses(
        (status = 200, description = "The subscription with its health", body = SubscriptionView),
        (status = "4XX", description = "No such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SubscriptionView>, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    match state.webhooks.store().subscription(&id).await? {
        Some(sub) => Ok(Json(sub.view(Some(health(&state, &sub).await?)))),
        None => Err(not_found(&id)),
    }
}

/// `PATCH /v1/subscriptions/{id}`
#[utoipa::path(
    patch,
    path = "/v1/subscriptions/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id (`sub_...`)")),
    request_body(content = Fields, description = "The fields to change; `enabled` turns delivery on or off"),
    responses(
        (status = 200, description = "The changed subscription", body = SubscriptionView),
        (status = "4XX", description = "Invalid body, no such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SubscriptionView>, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    let fields = parse_fields(body, &headers, &state).await?;
    let guard = state.webhooks.sender().guard().clone();
    let change = Box::new(move |sub: &mut Subscription| {
        let was = sub.state;
        fields.apply(&mut sub.spec, &mut sub.state, &guard)?;
        if was == SubState::Enabled && sub.state == SubState::Disabled {
            sub.disabled_reason = Some("disabled by an operator".into());
        }
        Ok(())
    });
    let sub = state
        .webhooks
        .update(&id, change)
        .await
        .map_err(|e| control_problem(&id, e))?;
    Ok(Json(sub.view(None)))
}

/// `DELETE /v1/subscriptions/{id}`
#[utoipa::path(
    delete,
    path = "/v1/subscriptions/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id (`sub_...`)")),
    responses(
        (status = 204, description = "Deleted with its deliveries"),
        (status = "4XX", description = "No such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    if state.webhooks.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// `POST /v1/subscriptions/{id}/rotate-secret`
#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id (`sub_...`)")),
    responses(
        (status = 200, description = "The subscription with its new `secret`; the old one signs alongside for 24 h", body = SubscriptionView),
        (status = "4XX", description = "No such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SubscriptionView>, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    let change = Box::new(|sub: &mut Subscription| {
        let old = std::mem::replace(&mut sub.secret, generate_secret());
        sub.previous_secret = Some(old);
        sub.previous_secret_expires_ms = Some(now_ms() + ROTATION_GRACE_MS);
        Ok(())
    });
    let sub = state
        .webhooks
        .update(&id, change)
        .await
        .map_err(|e| control_problem(&id, e))?;
    Ok(Json(sub.view(None)))
}

/// Where a replay starts: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Deliver again every matching event with a greater seq.
    after: Option<u64>,
    /// Deliver again every matching event published at or after this RFC 3339 time.
    since: Option<String>,
}

/// Where a replay starts, as the document describes it: `{"after": SEQ}` or `{"since": TIME}`.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only describes the body; `ReplayBody` parses it with clearer errors.
pub enum ReplayDoc {
    /// Deliver again every matching event with a greater seq.
    After { after: u64 },
    /// Deliver again every matching event published at or after this RFC 3339 time.
    Since {
        #[schema(format = DateTime)]
        since: String,
    },
}

/// `POST /v1/subscriptions/{id}/replay`: `{"after": SEQ}` or `{"since": RFC3339}`.
#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/replay",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id (`sub_...`)")),
    request_body = ReplayDoc,
    responses(
        (status = 202, description = "The subscription's cursor moved; deliveries follow", body = ReplayAccepted),
        (status = "4XX", description = "Invalid body, no such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn replay(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    let request: ReplayBody = json_body(body, &headers, state.limits.max_body, "replay").await?;
    let after = match (request.after, request.since) {
        (Some(after), None) => after,
        (None, Some(since)) => {
            let time = time::OffsetDateTime::parse(
                &since,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| {
                Problem::bad_request(
                    "invalid-parameter",
                    format!(
                        "since must be an RFC 3339 time like 2026-11-27T10:00:00Z, got `{since}`"
                    ),
                )
            })?;
            let ms = (time.unix_timestamp_nanos() / 1_000_000) as i64;
            state.log.store().seq_before(ms).await?
        }
        _ => {
            return Err(Problem::bad_request(
                "invalid-parameter",
                "give exactly one of `after` (a seq) or `since` (a time)",
            ));
        }
    };
    state
        .webhooks
        .replay(&id, after)
        .await
        .map_err(|e| control_problem(&id, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAccepted {
            subscription_id: id,
            after,
        }),
    )
        .into_response())
}

/// A replay's answer: where delivery starts again.
#[derive(serde::Serialize, ToSchema)]
pub struct ReplayAccepted {
    pub subscription_id: String,
    /// Events with a greater seq are delivered again.
    pub after: u64,
}

/// `GET /v1/subscriptions/{id}/deliveries?status=&limit=`
#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The subscription's id (`sub_...`)"),
        ("status" = Option<Status>, Query, description = "Only deliveries in this state"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)"),
    ),
    responses(
        (status = 200, description = "Deliveries, newest first, with their attempts", body = DeliveryList),
        (status = "4XX", description = "Invalid query, no such subscription, or not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryList>, Problem> {
    caller.require_admin()?;
    let id = id_from(path)?;
    let query = Query::parse(raw.as_deref(), &["status", "limit"])?;
    let status = match query.text("status")? {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            Problem::bad_request(
                "invalid-parameter",
                format!("status must be pending, retrying, succeeded or dead, got `{s}`"),
            )
        })?),
    };
    let limit = query.number("limit", 1, 1000)?.unwrap_or(100) as usize;
    if state.webhooks.store().subscription(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let list = state
        .webhooks
        .store()
        .deliveries(&id, status, limit)
        .await?;
    Ok(Json(DeliveryList {
        deliveries: list.iter().map(|d| d.view()).collect(),
    }))
}
