//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! One [`Metrics`] is made at start-up and handed to whatever counts; nothing is global, so tests
//! run servers side by side.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric Herald exports.
pub struct Metrics {
    registry: Registry,
    /// Events published, by topic class (a topic's first token).
    pub published: Family<Labels, Counter>,
    /// Bytes of event data published, by topic class.
    pub published_bytes: Family<Labels, Counter>,
    /// The highest `seq` stored.
    pub head: Gauge,
    /// Live long-lived connections, by transport (`sse`, `ndjson`, `longpoll`, `stomp`).
    pub connections: Family<Labels, Gauge>,
    /// Events (MESSAGE frames for STOMP) written to consumers, by transport.
    pub sent: Family<Labels, Counter>,
    /// Times a slow reader fell behind the live ring and caught up from the log.
    pub fallbacks: Gauge,
    /// Webhook attempts, by outcome (`succeeded`, `failed`, `gone`, `unsendable`).
    pub attempts: Family<Labels, Counter>,
    /// Webhook deliveries that ran out of attempts.
    pub dead: Counter,
    /// Webhook attempt latency in seconds.
    pub attempt_seconds: Histogram,
    /// Open deliveries per subscription.
    pub queue_depth: Family<Labels, Gauge>,
    /// Age in seconds of the oldest open delivery per subscription.
    pub oldest_pending: Family<Labels, Gauge>,
    /// 1 while this node delivers webhooks (always on a single node; the leader in a cluster).
    pub webhook_leader: Gauge,
    /// Serialises scrapes (encoding borrows the registry).
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `herald_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let m = Self {
            published: Family::default(),
            published_bytes: Family::default(),
            head: Gauge::default(),
            webhook_leader: Gauge::default(),
            connections: Family::default(),
            sent: Family::default(),
            fallbacks: Gauge::default(),
            attempts: Family::default(),
            dead: Counter::default(),
            attempt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            queue_depth: Family::default(),
            oldest_pending: Family::default(),
            registry: Registry::default(),
            scrape: Mutex::new(()),
        };
        registry.register(
            "events_published",
            "Events published, by topic class (first token)",
            m.published.clone(),
        );
        registry.register(
            "event_data_bytes",
            "Bytes of event data published, by topic class",
            m.published_bytes.clone(),
        );
        registry.register("log_head_seq", "Highest seq stored", m.head.clone());
        registry.register(
            "webhook_leader",
            "1 while this node delivers webhooks (in a cluster: is the leader)",
            m.webhook_leader.clone(),
        );
        registry.register(
            "connections",
            "Live long-lived connections, by transport",
            m.connections.clone(),
        );
        registry.register(
            "messages_sent",
            "Events written to consumers, by transport",
            m.sent.clone(),
        );
        registry.register(
            "slow_consumer_fallbacks",
            "Times a slow reader caught up from the log",
            m.fallbacks.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook attempts, by outcome",
            m.attempts.clone(),
        );
        registry.register(
            "webhook_dead_deliveries",
            "Webhook deliveries that ran out of attempts",
            m.dead.clone(),
        );
        registry.register(
            "webhook_attempt_duration_seconds",
            "Webhook attempt latency",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Open deliveries, per subscription",
            m.queue_depth.clone(),
        );
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest open delivery, per subscription",
            m.oldest_pending.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts a publish of `bytes` of data on `topic`.
    pub fn published(&self, topic: &str, bytes: usize) {
        let class = vec![("class", topic.split('.').next().unwrap_or(topic).to_owned())];
        self.published.get_or_create(&class).inc();
        self.published_bytes
            .get_or_create(&class)
            .inc_by(bytes as u64);
    }

    /// Counts `n` events sent over `transport`.
    pub fn sent(&self, transport: &'static str, n: usize) {
        self.sent
            .get_or_create(&vec![("transport", transport.to_owned())])
            .inc_by(n as u64);
    }

    /// A gauge of live connections over `transport`, raised now and lowered when dropped.
    pub fn connection(self: &std::sync::Arc<Self>, transport: &'static str) -> ConnectionCount {
        let gauge = self
            .connections
            .get_or_create(&vec![("transport", transport.to_owned())])
            .clone();
        gauge.inc();
        ConnectionCount(gauge)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Lowers its transport's connection gauge when dropped.
pub struct ConnectionCount(Gauge);

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}
