//! A real webhook receiver on 127.0.0.1:0 that records every request and answers as scripted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

/// What a path answers: scripted statuses first (0 = hang for a minute), then 200.
#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    scripts: HashMap<String, VecDeque<u16>>,
    always: HashMap<String, u16>,
    delay: Duration,
    active: usize,
    max_active: usize,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}", listener.local_addr().unwrap()),
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/{path}", post(handle))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Statuses `path` answers next, in order.
    pub fn script(&self, path: &str, statuses: &[u16]) {
        self.inner
            .lock()
            .unwrap()
            .scripts
            .entry(path.into())
            .or_default()
            .extend(statuses);
    }

    /// A status `path` answers once its script is used up.
    pub fn always(&self, path: &str, status: u16) {
        self.inner
            .lock()
            .unwrap()
            .always
            .insert(path.into(), status);
    }

    /// How long each request takes to answer.
    pub fn delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.inner
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    pub fn max_active(&self) -> usize {
        self.inner.lock().unwrap().max_active
    }

    /// Waits (up to 20 s) until `path` got `n` requests, and returns them.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Hit> {
        for _ in 0..2000 {
            let hits = self.hits(path);
            if hits.len() >= n {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{path} got {} requests, expected {n}",
            self.hits(path).len()
        );
    }
}

async fn handle(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let path = format!("/{path}");
    let (status, delay) = {
        let mut inner = r.inner.lock().unwrap();
        let status = match inner.scripts.get_mut(&path).and_then(VecDeque::pop_front) {
            Some(s) => s,
            None => inner.always.get(&path).copied().unwrap_or(200),
        };
        inner.active += 1;
        inner.max_active = inner.max_active.max(inner.active);
        (status, inner.delay)
    };
    if status == 0 {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    tokio::time::sleep(delay).await;
    let mut inner = r.inner.lock().unwrap();
    inner.active -= 1;
    // Recorded when answered, so a hung request never counts as received.
    inner.hits.push(Hit {
        path,
        headers,
        body,
    });
    // 429 and 503 ask for a one-second pause, as a throttling endpoint would.
    (
        StatusCode::from_u16(status.max(200)).unwrap(),
        [(
            "retry-after",
            if matches!(status, 429 | 503) {
                "1"
            } else {
                "0"
            },
        )],
    )
}
