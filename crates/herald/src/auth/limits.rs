//! Admission limits per caller: a publish rate per key (token bucket) and long-lived
//! connections per IP and per key. Exceeding them is a clear refusal (HTTP 429 with
//! `Retry-After`, or a STOMP ERROR), never a slowdown for anyone else.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::Principal;

/// Buckets kept before idle, full ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// A token bucket per key: `rate` per second, holding at most `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `None` when `rate` is 0 (no limit).
    pub fn new(rate: u32, burst: u32) -> Option<Self> {
        (rate > 0).then(|| Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(rate)),
            buckets: Mutex::default(),
        })
    }

    /// Takes `n` tokens from `key`'s bucket, or says how long until there are enough. A request
    /// larger than the whole bucket is let through once the bucket is full, leaving a debt.
    pub fn take(&self, key: &str, n: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_BUCKETS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        let n = n as f64;
        if *tokens >= n.min(self.burst) {
            *tokens -= n;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (n.min(self.burst) - *tokens) / self.rate,
        ))
    }
}

/// Counts long-lived connections per IP and per key.
#[derive(Clone)]
pub struct ConnectionLimits {
    per_ip: usize,
    per_key: usize,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    by_key: Arc<Mutex<HashMap<String, usize>>>,
}

/// Held for as long as a connection lives; gives its place back when dropped.
pub struct ConnectionGuard {
    limits: ConnectionLimits,
    ip: IpAddr,
    key: Option<String>,
}

impl ConnectionLimits {
    /// 0 means no limit.
    pub fn new(per_ip: u32, per_key: u32) -> Self {
        let limit = |n: u32| if n == 0 { usize::MAX } else { n as usize };
        Self {
            per_ip: limit(per_ip),
            per_key: limit(per_key),
            by_ip: Arc::default(),
            by_key: Arc::default(),
        }
    }

    /// Admits one more connection from `ip` for `principal`, or says which limit it hit.
    pub fn admit(&self, ip: IpAddr, principal: &Principal) -> Result<ConnectionGuard, String> {
        let key = match principal {
            Principal::Key { id, .. } => Some(id.clone()),
            Principal::Dev => None,
        };
        if !increment(&self.by_ip, ip, self.per_ip) {
            return Err(format!(
                "{ip} already holds {} connections (limits.connections_per_ip)",
                self.per_ip
            ));
        }
        if let Some(key) = &key
            && !increment(&self.by_key, key.clone(), self.per_key)
        {
            decrement(&self.by_ip, &ip);
            return Err(format!(
                "this key already holds {} connections (limits.connections_per_key)",
                self.per_key
            ));
        }
        Ok(ConnectionGuard {
            limits: self.clone(),
            ip,
            key,
        })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        decrement(&self.limits.by_ip, &self.ip);
        if let Some(key) = &self.key {
            decrement(&self.limits.by_key, key);
        }
    }
}

fn increment<K: Hash + Eq>(counts: &Mutex<HashMap<K, usize>>, key: K, limit: usize) -> bool {
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    let count = counts.entry(key).or_insert(0);
    if *count >= limit {
        return false;
    }
    *count += 1;
    true
}

fn decrement<K: Hash + Eq>(counts: &Mutex<HashMap<K, usize>>, key: &K) {
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Both limits, as the transports use them.
pub struct Admission {
    publish: Option<RateLimiter>,
    connections: ConnectionLimits,
}

impl Admission {
    /// From `limits.*`.
    pub fn new(limits: &crate::config::LimitsConfig) -> Self {
        Self {
            publish: RateLimiter::new(limits.publish_rate, limits.publish_burst),
            connections: ConnectionLimits::new(
                limits.connections_per_ip,
                limits.connections_per_key,
            ),
        }
    }

    /// Lets `principal` publish `n` events now, or says how long to wait. The anonymous `--dev`
    /// caller is not limited.
    pub fn publish(&self, principal: &Principal, n: usize) -> Result<(), Duration> {
        match (&self.publish, principal) {
            (Some(limiter), Principal::Key { id, .. }) => limiter.take(id, n),
            _ => Ok(()),
        }
    }

    /// Admits a long-lived connection.
    pub fn connect(&self, ip: IpAddr, principal: &Principal) -> Result<ConnectionGuard, String> {
        self.connections.admit(ip, principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_refills_at_the_rate() {
        let limiter = RateLimiter::new(10, 20).unwrap();
        assert!(limiter.take("k", 20).is_ok(), "a full bucket takes a burst");
        let wait = limiter.take("k", 5).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "five tokens at ten a second"
        );
        assert!(limiter.take("other", 1).is_ok(), "buckets are per key");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.take("k", 5).is_ok());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            limiter.take("k", 50).is_ok(),
            "a batch larger than the bucket passes when it is full"
        );
        assert_eq!(
            limiter.take("k", 1).unwrap_err(),
            Duration::from_secs_f64(3.1),
            "and leaves a debt"
        );
        assert!(RateLimiter::new(0, 0).is_none());
    }

    #[test]
    fn connections_are_counted_per_ip_and_per_key_and_released() {
        let limits = ConnectionLimits::new(2, 1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let key = Principal::Key {
            id: "k".into(),
            scopes: vec![],
            expires_ms: None,
        };
        let first = limits.admit(ip, &key).unwrap();
        assert!(
            limits
                .admit(ip, &key)
                .err()
                .unwrap()
                .contains("connections_per_key")
        );
        let dev = limits.admit(ip, &Principal::Dev).unwrap();
        assert!(
            limits
                .admit(ip, &Principal::Dev)
                .err()
                .unwrap()
                .contains("connections_per_ip")
        );
        drop(first);
        drop(dev);
        let _again = limits.admit(ip, &key).unwrap();
    }
}
