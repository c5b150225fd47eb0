//! Cluster mode: what nodes sharing a PostgreSQL store and a NATS bus coordinate beyond the log
//! (which `store/postgres/` and `bus/nats.rs` share by themselves).
//!
//! Webhook delivery runs on one node at a time, the leader: whoever holds a PostgreSQL advisory
//! lock (`store/postgres/leader.rs`). The leader runs every subscription's worker, so ordering,
//! rate and concurrency limits hold cluster-wide, and answers the webhook API (`/v1/subscriptions`,
//! `/v1/deliveries`) for the whole cluster: the other nodes forward those requests to it over
//! NATS (request/reply on `<prefix>.webhooks.http`) and relay its answers. When the leader dies,
//! PostgreSQL releases its lock as its connection drops, another node takes over within
//! [`RETRY_LEAD`], and the deliveries it had in flight are retried from the store (at least once).
//!
//! STOMP `/queue` messages are shared differently: every node claims the messages its own
//! consumers have room for, under a lease (`core/queue.rs`), and nodes tell each other on
//! `<prefix>.queues.ready` when a queue has free messages ([`shared_queues`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::api::problem::Problem;
use crate::core::queue::Queues;
use crate::store::postgres::PostgresStore;
use crate::webhook::dispatcher::Dispatcher;

/// How often a node that does not lead tries to.
pub const RETRY_LEAD: Duration = Duration::from_secs(2);
/// How long a forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// This node's part in the cluster.
pub struct Cluster {
    nats: async_nats::Client,
    /// Where webhook API requests go to be answered by the leader.
    subject: String,
    leading: AtomicBool,
    /// Largest request body forwarded (`limits.max_body`).
    max_body: usize,
}

impl Cluster {
    pub fn new(nats: async_nats::Client, prefix: &str, max_body: usize) -> Arc<Self> {
        Arc::new(Self {
            nats,
            subject: format!("{prefix}.webhooks.http"),
            leading: AtomicBool::new(false),
            max_body,
        })
    }

    /// Whether this node delivers webhooks now.
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Takes part in the leader election until shutdown: while this node leads, it runs the
    /// webhook workers and answers the other nodes' forwarded requests through `app`.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<PostgresStore>,
        dispatcher: Arc<Dispatcher>,
        app: Router,
        metrics: Arc<crate::metrics::Metrics>,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            let lead = match store.try_lead().await {
                Ok(Some(lead)) => lead,
                Ok(None) => {
                    wait(RETRY_LEAD, &shutdown).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take part in the webhook leader election; will retry");
                    wait(RETRY_LEAD, &shutdown).await;
                    continue;
                }
            };
            let requests = match self.nats.subscribe(self.subject.clone()).await {
                Ok(requests) => requests,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot answer webhook requests on NATS; stepping down");
                    lead.cancel();
                    wait(RETRY_LEAD, &shutdown).await;
                    continue;
                }
            };
            if let Err(e) = dispatcher.activate().await {
                tracing::warn!(error = %e, "cannot start the webhook workers; stepping down");
                lead.cancel();
                wait(RETRY_LEAD, &shutdown).await;
                continue;
            }
            self.leading.store(true, Ordering::SeqCst);
            metrics.webhook_leader.set(1);
            tracing::info!("this node now delivers webhooks for the cluster");
            let answering = tokio::spawn(answer(self.nats.clone(), requests, app.clone()));
            tokio::select! {
                () = lead.cancelled() => {}
                () = shutdown.cancelled() => {}
            }
            self.leading.store(false, Ordering::SeqCst);
            metrics.webhook_leader.set(0);
            answering.abort();
            dispatcher.deactivate().await;
            // Only now let another node lead: this one has stopped delivering.
            lead.cancel();
            tracing::info!("this node no longer delivers webhooks");
        }
    }
}

/// This node's queues, shared with the cluster's other nodes through `store`'s leases; notices
/// that a queue has free messages go to every node on `<prefix>.queues.ready`.
pub async fn shared_queues(
    nats: async_nats::Client,
    prefix: &str,
    store: Arc<PostgresStore>,
) -> anyhow::Result<Arc<Queues>> {
    let subject = format!("{prefix}.queues.ready");
    let mut notices = nats.subscribe(subject.clone()).await?;
    let announce = Box::new(move |queue: &str| {
        let (nats, subject) = (nats.clone(), subject.clone());
        let queue = bytes::Bytes::copy_from_slice(queue.as_bytes());
        tokio::spawn(async move {
            // A lost notice only delays the claim until the next poll.
            if let Err(e) = nats.publish(subject, queue).await {
                tracing::warn!(error = %e, "cannot tell the cluster about queue messages");
            }
        });
    });
    let node = ulid::Ulid::new().to_string();
    let queues = Queues::open_shared(store.clone(), store, node, announce);
    let weak = Arc::downgrade(&queues);
    tokio::spawn(async move {
        while let Some(notice) = notices.next().await {
            let Some(queues) = weak.upgrade() else { return };
            if let Ok(queue) = std::str::from_utf8(&notice.payload) {
                queues.wake(queue);
            }
        }
    });
    Ok(queues)
}

async fn wait(delay: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = shutdown.cancelled() => {}
    }
}

/// A request on its way to the leader, or an answer on its way back.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The method (requests) or the status code (answers).
    head: String,
    /// The path and query (requests only).
    uri: String,
    /// The client's address (requests only).
    peer: Option<SocketAddr>,
    headers: Vec<(String, String)>,
    /// The body, base64.
    body: String,
}

/// Marks a request that came from another node, so it is never forwarded again.
#[derive(Clone, Copy)]
struct Forwarded;

/// Whether a path belongs to the webhook API, which only the leader answers.
fn is_webhook_api(path: &str) -> bool {
    path.starts_with("/v1/subscriptions") || path.starts_with("/v1/deliveries")
}

/// Middleware: on a node that does not lead, sends webhook API requests to the leader.
pub async fn forward(
    State(cluster): State<Arc<Cluster>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_webhook_api(request.uri().path()) || cluster.leading() {
        return next.run(request).await;
    }
    if request.extensions().get::<Forwarded>().is_some() {
        return no_leader();
    }
    match relay(&cluster, request).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn relay(cluster: &Cluster, request: Request) -> Result<Response, Problem> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let body = crate::api::events::read_body(body, &parts.headers, cluster.max_body).await?;
    let wire = Wire {
        head: parts.method.to_string(),
        uri: parts.uri.to_string(),
        peer,
        headers: text_headers(&parts.headers),
        body: base64::engine::general_purpose::STANDARD.encode(&body),
    };
    let payload = serde_json::to_vec(&wire).expect("requests serialise");
    let request = cluster
        .nats
        .request(cluster.subject.clone(), payload.into());
    let answer = match tokio::time::timeout(FORWARD_TIMEOUT, request).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Ok(no_leader());
        }
        Ok(Err(e)) => return Err(Problem::internal(&e)),
        Err(_) => {
            return Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "leader-timeout",
                "the node that delivers webhooks did not answer in time; retry",
            ));
        }
    };
    let wire: Wire = serde_json::from_slice(&answer.payload).map_err(|e| Problem::internal(&e))?;
    from_wire_answer(wire).map_err(|e| Problem::internal(&e))
}

fn no_leader() -> Response {
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no-webhook-leader",
        "no node of the cluster delivers webhooks right now (one takes over within seconds); retry",
    )
    .into_response();
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(2));
    response
}

/// The leader's side: answers forwarded requests through this node's own router.
async fn answer(nats: async_nats::Client, mut requests: async_nats::Subscriber, app: Router) {
    let max_payload = nats.server_info().max_payload;
    while let Some(message) = requests.next().await {
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let app = app.clone();
        let nats = nats.clone();
        tokio::spawn(async move {
            let answer = match serve_forwarded(&message.payload, app).await {
                Ok(answer) => answer,
                Err(e) => problem_wire(StatusCode::BAD_GATEWAY, "bad-forward", &e.to_string()),
            };
            let mut payload = serde_json::to_vec(&answer).expect("answers serialise");
            if payload.len() > max_payload {
                let detail =
                    "the answer is too large to pass between nodes; ask for fewer items (limit=)";
                let problem = problem_wire(StatusCode::BAD_GATEWAY, "answer-too-large", detail);
                payload = serde_json::to_vec(&problem).expect("answers serialise");
            }
            if let Err(e) = nats.publish(reply, payload.into()).await {
                tracing::warn!(error = %e, "cannot send a forwarded request's answer");
            }
        });
    }
}

async fn serve_forwarded(payload: &[u8], app: Router) -> anyhow::Result<Wire> {
    let wire: Wire = serde_json::from_slice(payload)?;
    let mut request = Request::new(Body::from(
        base64::engine::general_purpose::STANDARD.decode(&wire.body)?,
    ));
    *request.method_mut() = Method::from_bytes(wire.head.as_bytes())?;
    *request.uri_mut() = wire.uri.parse::<Uri>()?;
    for (name, value) in &wire.headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    if let Some(peer) = wire.peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request.extensions_mut().insert(Forwarded);
    let response = app.oneshot(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Wire {
        head: parts.status.as_u16().to_string(),
        uri: String::new(),
        peer: None,
        headers: text_headers(&parts.headers),
        body: base64::engine::general_purpose::STANDARD.encode(&body),
    })
}

fn from_wire_answer(wire: Wire) -> anyhow::Result<Response> {
    let mut response = Response::new(Body::from(
        base64::engine::general_purpose::STANDARD.decode(&wire.body)?,
    ));
    *response.status_mut() = StatusCode::from_u16(wire.head.parse()?)?;
    for (name, value) in &wire.headers {
        // The relaying node sets its own framing and request id.
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "x-request-id"
        ) {
            continue;
        }
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    Ok(response)
}

fn problem_wire(status: StatusCode, slug: &'static str, detail: &str) -> Wire {
    let body = serde_json::json!({
        "type": format!("urn:herald:problem:{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    Wire {
        head: status.as_u16().to_string(),
        uri: String::new(),
        peer: None,
        headers: vec![("content-type".into(), "application/problem+json".into())],
        body: base64::engine::general_purpose::STANDARD.encode(body.to_string()),
    }
}

/// The headers whose values are text (all that Herald's API uses).
fn text_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}
