//! Shared test helpers: a real server on 127.0.0.1:0 (in-process or the built binary) and small
//! clients for its HTTP API and streams.
#![allow(dead_code)]

pub mod interop;
pub mod stomp;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use herald::Herald;
use herald::config::Config;
use herald::core::log::Log;
use herald::store::sqlite::SyncMode;
use herald_codec::{ndjson, sse};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A Herald running inside the test process.
pub struct TestServer {
    pub url: String,
    /// STOMP over TCP.
    pub stomp: std::net::SocketAddr,
    pub log: Arc<Log>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL schema holding the store, when `HERALD_TEST_STORE=postgres` or `cluster`.
    pub schema: Option<PgSchema>,
}

impl TestServer {
    /// Starts with test-friendly defaults; `tweak` adjusts the configuration.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Dev mode: anonymous loopback callers are let in, as most tests are not about keys.
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            dev: true,
            ..Config::default()
        };
        config.storage.sync = SyncMode::Normal;
        // HERALD_TEST_STORE=postgres runs the same tests on a PostgreSQL store (a fresh schema
        // per server, in the database HERALD_TEST_POSTGRES_URL names).
        let schema = match std::env::var("HERALD_TEST_STORE").as_deref() {
            Ok("postgres") => {
                let schema = PgSchema::create().await.expect(
                    "HERALD_TEST_STORE=postgres needs HERALD_TEST_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/test",
                );
                config.store = schema.store_url();
                Some(schema)
            }
            // One node in cluster mode: the PostgreSQL store and the NATS bus (so STOMP queues
            // take the shared, leased path).
            Ok("cluster") => {
                let schema = PgSchema::create()
                    .await
                    .expect("HERALD_TEST_STORE=cluster needs HERALD_TEST_POSTGRES_URL");
                config.store = schema.store_url();
                config.bus = std::env::var("HERALD_TEST_NATS_URL")
                    .expect("HERALD_TEST_STORE=cluster needs HERALD_TEST_NATS_URL");
                config.bus_prefix = schema.name.clone();
                Some(schema)
            }
            Ok("sqlite") | Err(_) => None,
            Ok(other) => panic!("HERALD_TEST_STORE={other:?}: use sqlite, postgres or cluster"),
        };
        tweak(&mut config);
        config.validate().unwrap();
        let herald = Herald::open(config).await.unwrap();
        let log = herald.log().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stomp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stomp = stomp_listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task =
            tokio::spawn(herald.serve_with_stomp(listener, Some(stomp_listener), shutdown.clone()));
        Self {
            url,
            stomp,
            log,
            shutdown,
            task,
            dir,
            schema,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A schema of its own in the database `HERALD_TEST_POSTGRES_URL` names, dropped on drop.
pub struct PgSchema {
    url: String,
    pub name: String,
}

impl PgSchema {
    /// Creates one; `None` when `HERALD_TEST_POSTGRES_URL` is not set.
    pub async fn create() -> Option<Self> {
        use sqlx::Connection;
        let url = std::env::var("HERALD_TEST_POSTGRES_URL").ok()?;
        let name = format!(
            "herald_test_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let mut conn = sqlx::PgConnection::connect(&url)
            .await
            .expect("HERALD_TEST_POSTGRES_URL must name a reachable database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Some(Self { url, name })
    }

    /// A `store` URL whose connections work in this schema.
    pub fn store_url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop may run inside a test's runtime: clean up on a thread with its own.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    conn.close().await.unwrap();
                });
        });
        let _ = cleanup.join();
    }
}

/// The built `herald` binary running `serve` in a child process.
pub struct Process {
    pub child: Child,
    pub url: String,
    /// STOMP over TCP, from the second stdout line.
    pub stomp: std::net::SocketAddr,
}

impl Process {
    /// Starts `herald serve --dev` on a free port with `data_dir`, waiting for its "listening" line.
    pub fn serve(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        Self::serve_with(data_dir, &["--dev"], envs).0
    }

    /// Starts `herald serve` with extra arguments; also returns the lines it printed before
    /// its "listening" line.
    pub fn serve_with(
        data_dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Self, Vec<String>) {
        Self::serve_at("127.0.0.1:0", data_dir, args, envs)
    }

    /// Starts `herald serve --dev` listening for HTTP on `listen` exactly (e.g. a port from
    /// [`free_port`], so a restarted server comes back at the same URL).
    pub fn serve_on(listen: &str, data_dir: &Path) -> Self {
        Self::serve_at(listen, data_dir, &["--dev"], &[]).0
    }

    fn serve_at(
        listen: &str,
        data_dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Self, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "serve",
                "--listen",
                listen,
                "--stomp-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the herald binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut before = Vec::new();
        let url = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "herald exited before listening; it printed {before:?}"
            );
            if line.contains("listening on http://") {
                break line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .unwrap()
                    .to_owned();
            }
            before.push(line);
        };
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let stomp = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("tcp://"))
            .unwrap_or_else(|| panic!("no stomp listening line, got {line:?}"))
            .parse()
            .unwrap();
        // Later lines are not needed; keep the pipe drained so the server never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        (Self { child, url, stomp }, before)
    }

    /// Sends a signal (`-9`, `-TERM`) and waits for the exit.
    pub fn signal(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port that was free a moment ago (bound, then released).
pub fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

pub fn client() -> reqwest::Client {
    herald::install_crypto();
    reqwest::Client::new()
}

/// POSTs `body` to a topic; returns the status and the JSON answer.
pub async fn publish(url: &str, topic: &str, body: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{url}/v1/topics/{topic}/events"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

/// GETs a path; returns the status, content type and JSON answer.
pub async fn get(url: &str, path: &str) -> (u16, String, Value) {
    let response = client().get(format!("{url}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The seqs of events in a JSON array.
pub fn seqs(events: &Value) -> Vec<u64> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

/// What a stream reader receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(Value),
    /// SSE comment or NDJSON blank line.
    KeepAlive(String),
    Retry(u64),
}

/// A stream client: SSE or NDJSON over a real HTTP connection.
pub struct Stream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    sse: Option<sse::Decoder>,
    ndjson: ndjson::Decoder,
    pending: std::collections::VecDeque<Item>,
    pub status: u16,
    pub content_type: String,
}

impl Stream {
    /// Opens `path` (`/v1/sse?...` or `/v1/stream?...`) with extra headers.
    pub async fn open(url: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = client().get(format!("{url}{path}"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let sse = path.starts_with("/v1/sse").then(sse::Decoder::new);
        Self {
            body: response.bytes_stream().boxed(),
            sse,
            ndjson: ndjson::Decoder::new(usize::MAX),
            pending: Default::default(),
            status,
            content_type,
        }
    }

    /// The next item, or `None` when the stream ended (or nothing came within 10 s).
    pub async fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .ok()??
                .ok()?;
            match &mut self.sse {
                Some(decoder) => {
                    decoder.push(&chunk);
                    while let Some(item) = decoder.next_item() {
                        self.pending.push_back(match item {
                            sse::Item::Event(e) => {
                                let value: Value = serde_json::from_str(&e.data).unwrap();
                                assert_eq!(
                                    e.last_event_id,
                                    value["seq"].to_string(),
                                    "SSE id is the seq"
                                );
                                assert_eq!(
                                    e.event, "message",
                                    "no event: field, so onmessage sees everything"
                                );
                                Item::Event(value)
                            }
                            sse::Item::Comment(c) => Item::KeepAlive(c),
                            sse::Item::Retry(ms) => Item::Retry(ms),
                        });
                    }
                }
                None => {
                    if chunk.iter().all(|b| *b == b'\n') {
                        self.pending.push_back(Item::KeepAlive(String::new()));
                    }
                    self.ndjson.push(&chunk);
                    while let Some(line) = self.ndjson.next_line().unwrap() {
                        self.pending
                            .push_back(Item::Event(serde_json::from_slice(&line).unwrap()));
                    }
                }
            }
        }
    }

    /// The next event, skipping keep-alives and hints.
    pub async fn next_event(&mut self) -> Option<Value> {
        loop {
            match self.next_item().await? {
                Item::Event(e) => return Some(e),
                _ => continue,
            }
        }
    }

    /// The next `n` events' seqs.
    pub async fn take_seqs(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_event().await {
                Some(e) => out.push(e["seq"].as_u64().unwrap()),
                None => panic!("stream ended after {} of {n} events: {out:?}", out.len()),
            }
        }
        out
    }
}

/// Publishes `n` events `{"i": k}` on `topic`, one request each; returns their seqs.
pub async fn publish_many(url: &str, topic: &str, n: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    for i in 0..n {
        let (status, event) = publish(url, topic, &format!(r#"{{"data":{{"i":{i}}}}}"#)).await;
        assert_eq!(status, 201, "{event}");
        seqs.push(event["seq"].as_u64().unwrap());
    }
    seqs
}

pub mod receiver;

/// Sends a JSON request; returns the status and JSON answer (Null when empty).
pub async fn send_json(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    send(client().request(method.parse().unwrap(), url), body).await
}

/// [`send_json`] with `Authorization: Bearer <key>`.
pub async fn send_json_as(method: &str, url: &str, key: &str, body: Value) -> (u16, Value) {
    let request = client().request(method.parse().unwrap(), url);
    send(request.bearer_auth(key), Some(body)).await
}

async fn send(mut request: reqwest::RequestBuilder, body: Option<Value>) -> (u16, Value) {
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A server whose webhooks may reach loopback (where the test receivers listen).
pub async fn webhook_server() -> TestServer {
    TestServer::start(|c| c.webhooks.allow_networks = vec!["127.0.0.0/8".into()]).await
}

/// Creates a subscription; returns its JSON.
pub async fn subscribe(server: &str, body: Value) -> Value {
    let (status, sub) = send_json("POST", &format!("{server}/v1/subscriptions"), Some(body)).await;
    assert_eq!(status, 201, "{sub}");
    sub
}

/// Polls `check` (up to 20 s) until it returns Some.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..2000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 20 s");
}

/// Creates an API key with `scopes` using the `admin` key; returns its id and the key itself.
pub async fn create_key(url: &str, admin: &str, scopes: &[&str]) -> (String, String) {
    let response = client()
        .post(format!("{url}/v1/keys"))
        .bearer_auth(admin)
        .body(serde_json::json!({ "scopes": scopes }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}
