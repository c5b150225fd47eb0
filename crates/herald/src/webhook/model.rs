//! Subscriptions and deliveries: what the API shows and the store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Duration;

/// How many events one POST may carry, and how long to wait to fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    #[schema(minimum = 1, maximum = 1000)]
    pub max_events: u32,
    #[schema(maximum = 60000)]
    pub max_wait_ms: u64,
}

/// The part of a subscription its owner chooses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Spec {
    pub url: String,
    pub topics: Vec<String>,
    /// Event types to deliver; empty means all.
    pub types: Vec<String>,
    pub description: Option<String>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Delays before each retry (`5s`, `1h`); its length is the number of retries.
    #[schema(value_type = Vec<String>)]
    pub retry_schedule: Vec<Duration>,
    /// How long an attempt may take, e.g. `15s`.
    #[schema(value_type = String)]
    pub timeout: Duration,
    /// Requests per second at most (`None`: unlimited).
    pub rate_limit: Option<f64>,
    /// Concurrent requests at most.
    pub max_in_flight: u32,
    pub batch: Option<Batch>,
    /// Deliver strictly one at a time, in order; a failing event holds back the rest.
    pub ordered: bool,
}

impl Spec {
    /// The retry schedule as plain durations.
    pub fn retry_schedule_std(&self) -> Vec<std::time::Duration> {
        self.retry_schedule.iter().map(|d| d.0).collect()
    }
}

/// Whether a subscription receives deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Enabled,
    Disabled,
}

impl State {
    /// The name used in the API and the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::Disabled => "disabled",
        }
    }
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    #[serde(flatten)]
    pub spec: Spec,
    pub state: State,
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_expires_ms`.
    #[serde(skip_serializing)]
    pub previous_secret: Option<String>,
    #[serde(skip_serializing)]
    pub previous_secret_expires_ms: Option<i64>,
    /// Every event with `seq <= cursor` has been turned into deliveries (or did not match).
    #[serde(skip_serializing)]
    pub cursor: u64,
    /// Since when every attempt has failed (`None` after a success).
    #[serde(skip_serializing)]
    pub failing_since_ms: Option<i64>,
    #[serde(skip_serializing)]
    pub created_ms: i64,
}

impl Subscription {
    /// The secrets signing now: the current one, and the previous one during its grace period.
    pub fn live_secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_expires_ms)
            && now_ms < until
        {
            secrets.push(old);
        }
        secrets
    }

    /// The subscription as the API shows it.
    pub fn view(&self, health: Option<Health>) -> SubscriptionView {
        SubscriptionView {
            subscription: self.clone(),
            created_at: crate::core::event::format_time(self.created_ms),
            health,
        }
    }
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub created_at: String,
    /// How its endpoint is doing (in lists and single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// How a subscription's endpoint is doing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Deliveries waiting for an attempt or a retry.
    pub queue_depth: u64,
    /// When the oldest of them was created.
    pub oldest_open_at: Option<String>,
    /// The last attempt of the recent deliveries.
    pub last_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    /// Successful attempts / attempts, over the last 100 deliveries (`null` before any).
    pub success_rate: Option<f64>,
    /// Since when every attempt has failed (`null` while it succeeds).
    pub failing_since: Option<String>,
}

/// `GET /v1/subscriptions`
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Retrying,
    Succeeded,
    Dead,
}

impl Status {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retrying => "retrying",
            Status::Succeeded => "succeeded",
            Status::Dead => "dead",
        }
    }

    /// Parses a status name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Pending,
            Status::Retrying,
            Status::Succeeded,
            Status::Dead,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the delivery still has attempts to make.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Pending | Status::Retrying)
    }
}

/// One HTTP attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: i64,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    /// The request's headers as sent (older records have none).
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
}

/// One event (or one batch) on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    /// The `webhook-id`: the event id, or for a batch the delivery id; stable across retries.
    pub msg_id: String,
    pub event_seqs: Vec<u64>,
    pub event_ids: Vec<String>,
    /// Whether the body is a JSON array.
    pub batch: bool,
    pub status: Status,
    pub attempts: Vec<Attempt>,
    pub next_attempt_ms: Option<i64>,
    pub created_ms: i64,
}

impl Delivery {
    /// The delivery as the API shows it.
    pub fn view(&self) -> DeliveryView {
        use crate::core::event::format_time;
        DeliveryView {
            id: self.id.clone(),
            subscription_id: self.subscription_id.clone(),
            webhook_id: self.msg_id.clone(),
            event_ids: self.event_ids.clone(),
            event_seqs: self.event_seqs.clone(),
            status: self.status,
            attempts: self
                .attempts
                .iter()
                .map(|a| AttemptView {
                    at: format_time(a.at_ms),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                    response_excerpt: a.response_excerpt.clone(),
                    request_headers: a.request_headers.iter().cloned().collect(),
                })
                .collect(),
            next_attempt_at: self.next_attempt_ms.map(format_time),
            created_at: format_time(self.created_ms),
            request_body: None,
        }
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub subscription_id: String,
    /// The `webhook-id` header: the event id, or for a batch the delivery id.
    pub webhook_id: String,
    pub event_ids: Vec<String>,
    pub event_seqs: Vec<u64>,
    pub status: Status,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    /// The request body, on `GET /v1/deliveries/{id}` while its events are retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
}

/// One attempt as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The first bytes of the endpoint's answer.
    pub response_excerpt: Option<String>,
    /// The request headers as sent, by name.
    pub request_headers: BTreeMap<String, String>,
}

/// `GET /v1/subscriptions/{id}/deliveries`
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// A new id with a readable prefix: `sub_...`, `dlv_...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}
