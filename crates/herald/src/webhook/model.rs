//! Subscriptions and deliveries: what the API shows and the store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Duration;

/// How many events one POST may carry, and how long to wait to fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub max_events: u32,
    pub max_wait_ms: u64,
}

/// The part of a subscription its owner chooses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub url: String,
    pub topics: Vec<String>,
    /// Event types to deliver; empty means all.
    pub types: Vec<String>,
    pub description: Option<String>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Delays before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Enabled,
    Disabled,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("subscriptions serialise");
        v["created_at"] = crate::core::event::format_time(self.created_ms).into();
        v
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub fn to_json(&self) -> serde_json::Value {
        use crate::core::event::format_time;
        serde_json::json!({
            "id": self.id,
            "subscription_id": self.subscription_id,
            "webhook_id": self.msg_id,
            "event_ids": self.event_ids,
            "event_seqs": self.event_seqs,
            "status": self.status,
            "attempts": self.attempts.iter().map(|a| serde_json::json!({
                "at": format_time(a.at_ms),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
                "response_excerpt": a.response_excerpt,
            })).collect::<Vec<_>>(),
            "next_attempt_at": self.next_attempt_ms.map(format_time),
            "created_at": format_time(self.created_ms),
        })
    }
}

/// A new id with a readable prefix: `sub_...`, `dlv_...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}
