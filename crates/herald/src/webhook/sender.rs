//! One HTTP attempt: a signed POST through the SSRF-guarded client, never following redirects,
//! reading at most a short excerpt of the answer.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;

use super::model::{Attempt, Subscription};
use super::retry::parse_retry_after;
use super::signature::signature_header;
use super::ssrf::Guard;

/// Bytes of the response kept in the attempt record.
pub const EXCERPT_BYTES: usize = 1024;

/// What the endpoint's answer means for the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Try again; `retry_after` when the endpoint asked for a delay (429, 503).
    Failure {
        retry_after: Option<Duration>,
    },
    /// 410 Gone: the endpoint is not coming back; the subscription is disabled.
    Gone,
    /// The delivery can never be made (its events are gone); it is dead at once.
    Unsendable,
}

/// The webhook HTTP client.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: Guard,
}

impl Sender {
    /// A client that only reaches addresses `guard` permits.
    pub fn new(guard: Guard) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(guard.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { client, guard })
    }

    /// The guard, for checking URLs at creation.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// POSTs `body` to the subscription's URL, signed for `msg_id`, and reports the attempt
    /// (with the request headers as sent).
    pub async fn send(
        &self,
        sub: &Subscription,
        msg_id: &str,
        body: Bytes,
        now_ms: i64,
    ) -> (Attempt, Outcome) {
        let started = Instant::now();
        let timestamp = now_ms / 1000;
        let headers = match request_headers(sub, msg_id, timestamp, &body) {
            Ok(headers) => headers,
            Err(error) => return failed(now_ms, 0, error, Vec::new()),
        };
        let result = self.post(sub, &headers, body).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let (status, retry_after, excerpt) = match result {
            Ok(answer) => answer,
            Err(error) => return failed(now_ms, latency_ms, error, headers),
        };
        let outcome = match status {
            200..=299 => Outcome::Success,
            410 => Outcome::Gone,
            429 | 503 => Outcome::Failure { retry_after },
            _ => Outcome::Failure { retry_after: None },
        };
        let error = (outcome != Outcome::Success).then(|| format!("endpoint answered {status}"));
        let attempt = Attempt {
            at_ms: now_ms,
            status_code: Some(status),
            latency_ms,
            error,
            response_excerpt: (!excerpt.is_empty()).then_some(excerpt),
            request_headers: headers,
        };
        (attempt, outcome)
    }

    async fn post(
        &self,
        sub: &Subscription,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<(u16, Option<Duration>, String), String> {
        let url: reqwest::Url = sub
            .spec
            .url
            .parse()
            .map_err(|e| format!("invalid URL: {e}"))?;
        self.guard.check_url(&url)?;
        let mut request = self.client.post(url).timeout(sub.spec.timeout.0);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| parse_retry_after(v.to_str().ok()?));
        // Read only the start of the answer: a receiver cannot make us buffer a huge body.
        let mut excerpt = Vec::new();
        let mut stream = response.bytes_stream();
        while excerpt.len() < EXCERPT_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => excerpt
                    .extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - excerpt.len())]),
                _ => break,
            }
        }
        Ok((
            status,
            retry_after,
            String::from_utf8_lossy(&excerpt).into_owned(),
        ))
    }
}

/// The headers of a delivery request: the subscription's own, then the Standard Webhooks ones.
fn request_headers(
    sub: &Subscription,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let signature = signature_header(&sub.live_secrets(timestamp * 1000), msg_id, timestamp, body)?;
    let mut headers: Vec<(String, String)> = sub
        .spec
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    headers.extend([
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), msg_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signature),
    ]);
    Ok(headers)
}

/// An attempt that got no HTTP answer.
fn failed(
    at_ms: i64,
    latency_ms: u64,
    error: String,
    request_headers: Vec<(String, String)>,
) -> (Attempt, Outcome) {
    let attempt = Attempt {
        at_ms,
        status_code: None,
        latency_ms,
        error: Some(error),
        response_excerpt: None,
        request_headers,
    };
    (attempt, Outcome::Failure { retry_after: None })
}

/// A transport error with its causes, e.g. "error sending request: ... non-public addresses".
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
