//! The cluster store: PostgreSQL, shared by every node (`store = "postgres://..."`).
//!
//! How `seq` stays a safe cursor when many nodes append at once (the contract: strictly
//! increasing, consecutive within one append, never visible out of order):
//! - A one-row `head` table holds the highest assigned `seq` and the latest event time. Every
//!   transaction that appends first locks that row (`SELECT ... FOR UPDATE`), numbers its new
//!   events after it, inserts them, writes the new head and commits. The row lock serialises
//!   appenders cluster-wide until commit, so commit order is `seq` order: the transaction
//!   holding 12 cannot even number its events before the one holding 11 has committed. A
//!   rollback also rolls back the head, so seqs stay dense. PostgreSQL makes a transaction
//!   visible before it releases its locks, so any snapshot that shows 12 shows 11 too: a reader
//!   never sees a gap filled in later. The lock is taken before the idempotency lookup, so two
//!   nodes publishing the same (topic, id) at once store it once.
//! - The head's time makes event times never go backwards along `seq` even when the nodes'
//!   clocks disagree, which `seq_before` and retention by age rely on.
//! - Group commit: each node has one writer task that takes every append queued while its
//!   previous commit ran into one transaction, so the lock and the round trips are paid once per
//!   group, not per event. After commit it announces the new events on the bus in `seq` order.
//!   If the server rejects a group, each request is tried again alone, so one bad request
//!   fails alone (as SQLite's savepoints do).
//! - `head()` reads an atomic set at open and after each local commit; another node's commits
//!   reach it through [`PostgresStore::refresh_head`] (`Store::refresh_head`).
//! - Retention deletes in short transactions that also lock the head row, so topic statistics
//!   never race an append.
//! - Webhooks, keys and queues need no ordering across requests: they use plain transactions
//!   on the connection pool.
//!
//! The schema lives in `migrations/postgres/`, embedded in the binary and applied at open (and
//! by `herald migrate`).

mod keys;
mod leader;
mod queues;
mod webhooks;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use tokio::sync::{mpsc, oneshot};

use super::{Appended, RetentionPolicy, Store, StoreError, TopicInfo};
use crate::bus::Bus;
use crate::core::event::{Event, NewEvent, Payload, generate_id, now_ms};
use crate::core::topic::PatternSet;

/// The schema, applied at open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Most append requests committed in one transaction.
const MAX_GROUP: usize = 512;
/// Events deleted per retention transaction, so appends never wait long for the head lock.
const RETENTION_CHUNK: i64 = 5_000;
/// Connections per node.
const POOL_SIZE: u32 = 10;
/// How long a call waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// `SELECT <every event column> FROM events <tail>`, as one static string.
macro_rules! select_events {
    ($tail:literal) => {
        concat!(
            "SELECT seq, topic, id, type, time_ms, encoding, content_type, data, headers FROM events ",
            $tail
        )
    };
}

/// `SELECT <every topic column> FROM topics <tail>`.
macro_rules! select_topics {
    ($tail:literal) => {
        concat!(
            "SELECT name, events, first_seq, last_seq, last_published_ms, removed_through FROM topics ",
            $tail
        )
    };
}

enum Command {
    Append(Vec<NewEvent>, Reply),
    Close(oneshot::Sender<()>),
}

type Reply = oneshot::Sender<Result<Vec<Appended>, StoreError>>;

/// The PostgreSQL-backed [`Store`] (and webhook, key and queue store).
pub struct PostgresStore {
    pool: PgPool,
    commands: mpsc::Sender<Command>,
    head: Arc<AtomicU64>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies pending migrations and starts
    /// this node's writer task.
    pub async fn open(url: &str, bus: Arc<dyn Bus>) -> Result<Self, StoreError> {
        Self::open_with(parse_url(url).map_err(StoreError::Backend)?, bus).await
    }

    /// [`PostgresStore::open`] with connection options built by the caller.
    pub async fn open_with(
        options: PgConnectOptions,
        bus: Arc<dyn Bus>,
    ) -> Result<Self, StoreError> {
        let pool = connect(options).await?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        let (seq, time_ms): (i64, i64) = sqlx::query_as("SELECT seq, time_ms FROM head")
            .fetch_one(&pool)
            .await
            .map_err(backend)?;
        tracing::debug!(seq, time_ms, "opened the PostgreSQL store");
        let head = Arc::new(AtomicU64::new(to_u64(seq)));
        let (commands, rx) = mpsc::channel(4 * MAX_GROUP);
        let writer = Writer {
            pool: pool.clone(),
            bus,
            head: head.clone(),
        };
        tokio::spawn(writer.run(rx));
        Ok(Self {
            pool,
            commands,
            head,
        })
    }

    /// Applies pending migrations to the database at `url` and disconnects (`herald migrate`);
    /// returns how many were applied.
    pub async fn migrate(url: &str) -> Result<usize, StoreError> {
        let pool = connect(parse_url(url).map_err(StoreError::Backend)?).await?;
        let before = applied_migrations(&pool).await?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        let after = applied_migrations(&pool).await?;
        pool.close().await;
        Ok(after.saturating_sub(before))
    }

    /// Re-reads the highest committed `seq` from the database, so commits by other nodes
    /// advance [`Store::head`]; returns it.
    pub async fn refresh_head(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM head")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let seq = to_u64(seq);
        Ok(self.head.fetch_max(seq, Ordering::SeqCst).max(seq))
    }

    /// The connection pool, for the other stores' tables.
    fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Checks a `postgres://` URL without connecting (config validation uses it too); the error
/// says what is wrong, never what was given, as the URL may hold a password.
pub fn parse_url(url: &str) -> Result<PgConnectOptions, String> {
    PgConnectOptions::from_str(url).map_err(|e| {
        format!(
            "not a valid PostgreSQL URL ({e}); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        )
    })
}

async fn connect(options: PgConnectOptions) -> Result<PgPool, StoreError> {
    // A node cut off mid-append would otherwise hold the head lock (and stop every node's
    // appends) until PostgreSQL's TCP keepalive noticed; no append idles this long.
    let options = options.options([("idle_in_transaction_session_timeout", "10s")]);
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))
}

async fn applied_migrations(pool: &PgPool) -> Result<usize, StoreError> {
    // The table appears with the first migration run.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    if !exists {
        return Ok(0);
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("cannot apply the PostgreSQL migrations: {e}"))
}

fn backend(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolClosed => StoreError::Closed,
        e => StoreError::Backend(e.to_string()),
    }
}

/// `seq`s are positive and stored as BIGINT.
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// A column holding JSON text.
fn json_column<T: serde::de::DeserializeOwned>(row: &PgRow, i: usize) -> sqlx::Result<T> {
    let text: String = row.try_get(i)?;
    serde_json::from_str(&text).map_err(decode_error)
}

fn event_from_row(row: &PgRow) -> sqlx::Result<Arc<Event>> {
    let encoding: i16 = row.try_get(5)?;
    let content_type: Option<String> = row.try_get(6)?;
    let data: Vec<u8> = row.try_get(7)?;
    let text = |data: Vec<u8>| String::from_utf8(data).map_err(decode_error);
    let payload = match encoding {
        0 => Payload::Json(text(data)?),
        1 => Payload::Text {
            content_type: content_type.unwrap_or_default(),
            text: text(data)?,
        },
        _ => Payload::Binary {
            content_type: content_type.unwrap_or_default(),
            bytes: data,
        },
    };
    let headers: Option<String> = row.try_get(8)?;
    let headers = match headers {
        Some(json) => serde_json::from_str(&json).map_err(decode_error)?,
        None => Vec::new(),
    };
    Ok(Event::with_headers(
        to_u64(row.try_get(0)?),
        row.try_get(2)?,
        row.try_get(1)?,
        row.try_get(3)?,
        row.try_get(4)?,
        payload,
        headers,
    ))
}

fn topic_from_row(row: &PgRow) -> sqlx::Result<TopicInfo> {
    Ok(TopicInfo {
        topic: row.try_get(0)?,
        events: to_u64(row.try_get(1)?),
        first_seq: row.try_get::<Option<i64>, _>(2)?.map(to_u64),
        last_seq: row.try_get::<Option<i64>, _>(3)?.map(to_u64),
        last_published_ms: row.try_get(4)?,
        removed_through: to_u64(row.try_get(5)?),
    })
}

/// The POSIX regular expression (PostgreSQL `~`) equivalent to a wildcard pattern: `*` is one
/// token, a final `>` one or more. Tokens are `[A-Za-z0-9_-]`, none special in a regex.
fn pattern_regex(pattern: &str) -> String {
    let parts: Vec<&str> = pattern
        .split('.')
        .map(|token| match token {
            "*" => "[^.]+",
            ">" => ".+",
            literal => literal,
        })
        .collect();
    format!("^{}$", parts.join("\\."))
}

#[async_trait]
impl Store for PostgresStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Append(events, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read(
        &self,
        patterns: &PatternSet,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let after = to_i64(after);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = if patterns.matches_all() {
            sqlx::query(select_events!("WHERE seq > $1 ORDER BY seq LIMIT $2"))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
        } else {
            let (exact, wild): (Vec<_>, Vec<_>) =
                patterns.patterns().iter().partition(|p| p.is_exact());
            let exact: Vec<&str> = exact.iter().map(|p| p.as_str()).collect();
            if wild.is_empty() {
                // Only named topics: the (topic, seq) index can serve it.
                sqlx::query(select_events!(
                    "WHERE seq > $1 AND topic = ANY($3) ORDER BY seq LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .bind(exact)
                .fetch_all(&self.pool)
                .await
            } else {
                let regexes: Vec<String> = wild.iter().map(|p| pattern_regex(p.as_str())).collect();
                sqlx::query(select_events!(
                    "WHERE seq > $1 AND (topic = ANY($3) OR topic ~ ANY($4)) ORDER BY seq LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .bind(exact)
                .bind(regexes)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(backend)?;
        rows.iter()
            .map(event_from_row)
            .collect::<sqlx::Result<_>>()
            .map_err(backend)
    }

    async fn events_at(&self, seqs: &[u64]) -> Result<Vec<Arc<Event>>, StoreError> {
        let seqs: Vec<i64> = seqs.iter().map(|&s| to_i64(s)).collect();
        let rows = sqlx::query(select_events!("WHERE seq = ANY($1) ORDER BY seq"))
            .bind(seqs)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(event_from_row)
            .collect::<sqlx::Result<_>>()
            .map_err(backend)
    }

    async fn seq_before(&self, time_ms: i64) -> Result<u64, StoreError> {
        // Times never decrease along seq, so the last event before the time is the answer; when
        // every retained event is later, everything before the oldest retained one was earlier
        // (the same answer as the SQLite store).
        let seq: i64 = sqlx::query_scalar(
            "SELECT coalesce(
                 (SELECT seq FROM events WHERE time_ms < $1 ORDER BY time_ms DESC, seq DESC LIMIT 1),
                 (SELECT min(seq) - 1 FROM events),
                 0)",
        )
        .bind(time_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(to_u64(seq))
    }

    fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    async fn refresh_head(&self) -> Result<u64, StoreError> {
        PostgresStore::refresh_head(self).await
    }

    fn observe_head(&self, seq: u64) {
        self.head.fetch_max(seq, Ordering::SeqCst);
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>, StoreError> {
        let rows = sqlx::query(select_topics!("ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(topic_from_row)
            .collect::<sqlx::Result<_>>()
            .map_err(backend)
    }

    async fn topic(&self, name: &str) -> Result<Option<TopicInfo>, StoreError> {
        let row = sqlx::query(select_topics!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref()
            .map(topic_from_row)
            .transpose()
            .map_err(backend)
    }

    async fn removed_through(&self, patterns: &PatternSet) -> Result<u64, StoreError> {
        let removed: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, removed_through FROM topics WHERE removed_through > 0")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(removed
            .into_iter()
            .filter(|(name, _)| patterns.matches(name))
            .map(|(_, seq)| to_u64(seq))
            .max()
            .unwrap_or(0))
    }

    async fn enforce_retention(&self, policy: RetentionPolicy) -> Result<u64, StoreError> {
        retention(&self.pool, policy).await.map_err(backend)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.pool.close().await;
    }
}

/// This node's appender: numbers and commits queued appends in groups (see the module doc).
struct Writer {
    pool: PgPool,
    bus: Arc<dyn Bus>,
    head: Arc<AtomicU64>,
}

impl Writer {
    async fn run(self, mut commands: mpsc::Receiver<Command>) {
        let mut group: Vec<(Vec<NewEvent>, Reply)> = Vec::new();
        while let Some(mut command) = commands.recv().await {
            let mut closing = None;
            loop {
                match command {
                    Command::Append(events, reply) => group.push((events, reply)),
                    Command::Close(reply) => {
                        closing = Some(reply);
                        break;
                    }
                }
                if group.len() >= MAX_GROUP {
                    break;
                }
                match commands.try_recv() {
                    Ok(next) => command = next,
                    Err(_) => break,
                }
            }
            self.commit_group(std::mem::take(&mut group)).await;
            if let Some(reply) = closing {
                // Appends queued behind the close are dropped with the receiver: their callers
                // get `Closed`.
                let _ = reply.send(());
                return;
            }
        }
    }

    /// Commits a group in one transaction, then announces the new events and replies.
    async fn commit_group(&self, group: Vec<(Vec<NewEvent>, Reply)>) {
        if group.is_empty() {
            return;
        }
        let (requests, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        match append_requests(&self.pool, &requests).await {
            Ok((results, created)) => {
                self.announce(&created);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            // The server refused a statement, so nothing was committed: try each request
            // alone, so that only the bad one fails.
            Err(sqlx::Error::Database(e)) if requests.len() > 1 => {
                tracing::warn!(error = %e, "a grouped append failed; retrying its requests one by one");
                for (request, reply) in requests.iter().zip(replies) {
                    let result =
                        match append_requests(&self.pool, std::slice::from_ref(request)).await {
                            Ok((mut results, created)) => {
                                self.announce(&created);
                                Ok(results.pop().unwrap_or_default())
                            }
                            Err(e) => Err(backend(e)),
                        };
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "append failed; every caller in the group gets an error");
                let message = e.to_string();
                let closed = matches!(e, sqlx::Error::PoolClosed);
                for reply in replies {
                    let _ = reply.send(Err(if closed {
                        StoreError::Closed
                    } else {
                        StoreError::Backend(message.clone())
                    }));
                }
            }
        }
    }

    fn announce(&self, created: &[Arc<Event>]) {
        if let Some(last) = created.last() {
            self.head.fetch_max(last.seq, Ordering::SeqCst);
            self.bus.publish(created);
        }
    }
}

/// The columns of the rows a group inserts, one array per column (bound to `unnest`).
#[derive(Default)]
struct NewRows {
    seq: Vec<i64>,
    topic: Vec<String>,
    id: Vec<String>,
    event_type: Vec<String>,
    encoding: Vec<i16>,
    content_type: Vec<Option<String>>,
    data: Vec<Vec<u8>>,
    headers: Vec<Option<String>>,
}

/// Appends requests in one transaction holding the head lock; returns each request's result
/// and the created events in `seq` order.
async fn append_requests(
    pool: &PgPool,
    requests: &[Vec<NewEvent>],
) -> sqlx::Result<(Vec<Vec<Appended>>, Vec<Arc<Event>>)> {
    let mut tx = pool.begin().await?;
    let (head_seq, head_time): (i64, i64) =
        sqlx::query_as("SELECT seq, time_ms FROM head FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let time = now_ms().max(head_time);

    // Ids already stored; read under the lock, so a concurrent node's commit is seen.
    let (topics, ids): (Vec<&str>, Vec<&str>) = requests
        .iter()
        .flatten()
        .filter_map(|e| e.id.as_deref().map(|id| (e.topic.as_str(), id)))
        .unzip();
    let mut known: HashMap<(String, String), Arc<Event>> = HashMap::new();
    if !ids.is_empty() {
        let rows = sqlx::query(select_events!(
            "WHERE (topic, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        ))
        .bind(&topics)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let event = event_from_row(row)?;
            known.insert((event.topic.clone(), event.id.clone()), event);
        }
    }

    let mut next_seq = to_u64(head_seq) + 1;
    let mut rows = NewRows::default();
    let mut created = Vec::new();
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let mut out = Vec::with_capacity(request.len());
        for new in request {
            let topic = new.topic.as_str();
            if let Some(event) = new
                .id
                .as_ref()
                .and_then(|id| known.get(&(topic.to_owned(), id.clone())))
            {
                out.push(Appended {
                    event: event.clone(),
                    created: false,
                });
                continue;
            }
            let id = new.id.clone().unwrap_or_else(generate_id);
            let event_type = new.event_type.clone().unwrap_or_else(|| topic.to_owned());
            let (encoding, content_type, data) = match &new.payload {
                Payload::Json(json) => (0, None, json.as_bytes().to_vec()),
                Payload::Text { content_type, text } => {
                    (1, Some(content_type.clone()), text.as_bytes().to_vec())
                }
                Payload::Binary {
                    content_type,
                    bytes,
                } => (2, Some(content_type.clone()), bytes.clone()),
            };
            let headers = (!new.headers.is_empty())
                .then(|| serde_json::to_string(&new.headers).expect("string pairs serialise"));
            let seq = next_seq;
            next_seq += 1;
            rows.seq.push(to_i64(seq));
            rows.topic.push(topic.to_owned());
            rows.id.push(id.clone());
            rows.event_type.push(event_type.clone());
            rows.encoding.push(encoding);
            rows.content_type.push(content_type);
            rows.data.push(data);
            rows.headers.push(headers);
            let event = Event::with_headers(
                seq,
                id.clone(),
                topic.to_owned(),
                event_type,
                time,
                new.payload.clone(),
                new.headers.clone(),
            );
            // A later copy of this id in the same group is a retry of this one.
            known.insert((topic.to_owned(), id), event.clone());
            created.push(event.clone());
            out.push(Appended {
                event,
                created: true,
            });
        }
        results.push(out);
    }

    if !created.is_empty() {
        sqlx::query(
            "INSERT INTO events (seq, topic, id, type, time_ms, encoding, content_type, data, headers)
             SELECT s, t, i, ty, $5, e, ct, d, h
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $6::int2[], $7::text[],
                         $8::bytea[], $9::text[]) AS r(s, t, i, ty, e, ct, d, h)",
        )
        .bind(&rows.seq)
        .bind(&rows.topic)
        .bind(&rows.id)
        .bind(&rows.event_type)
        .bind(time)
        .bind(&rows.encoding)
        .bind(&rows.content_type)
        .bind(&rows.data)
        .bind(&rows.headers)
        .execute(&mut *tx)
        .await?;
        update_topic_stats(&mut tx, &created).await?;
        sqlx::query("UPDATE head SET seq = $1, time_ms = $2")
            .bind(to_i64(next_seq - 1))
            .bind(time)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((results, created))
}

async fn update_topic_stats(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    created: &[Arc<Event>],
) -> sqlx::Result<()> {
    let mut stats: HashMap<&str, (i64, u64, u64, i64)> = HashMap::new();
    for e in created {
        let s = stats
            .entry(&e.topic)
            .or_insert((0, e.seq, e.seq, e.time_ms));
        s.0 += 1;
        s.2 = e.seq;
        s.3 = e.time_ms;
    }
    let mut names = Vec::with_capacity(stats.len());
    let (mut counts, mut firsts, mut lasts, mut times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, (count, first, last, time)) in stats {
        names.push(name);
        counts.push(count);
        firsts.push(to_i64(first));
        lasts.push(to_i64(last));
        times.push(time);
    }
    sqlx::query(
        "INSERT INTO topics (name, events, first_seq, last_seq, last_published_ms)
         SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
         ON CONFLICT (name) DO UPDATE SET events = topics.events + excluded.events,
           first_seq = coalesce(topics.first_seq, excluded.first_seq),
           last_seq = excluded.last_seq, last_published_ms = excluded.last_published_ms",
    )
    .bind(&names)
    .bind(&counts)
    .bind(&firsts)
    .bind(&lasts)
    .bind(&times)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes what the policy no longer keeps, in short transactions; returns how many went.
async fn retention(pool: &PgPool, policy: RetentionPolicy) -> sqlx::Result<u64> {
    let mut removed = 0;
    let cutoff = now_ms().saturating_sub(policy.max_age_ms);
    // Times grow with seq, so the expired events are every event up to the last expired one.
    let through: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM events WHERE time_ms < $1 ORDER BY time_ms DESC, seq DESC LIMIT 1",
    )
    .bind(cutoff)
    .fetch_optional(pool)
    .await?;
    if let Some(through) = through {
        removed += delete_through(pool, through, None).await?;
    }
    if let Some(max) = policy.max_events_per_topic {
        let max = to_i64(max);
        let over: Vec<String> =
            sqlx::query_scalar("SELECT name FROM topics WHERE events > $1 ORDER BY name")
                .bind(max)
                .fetch_all(pool)
                .await?;
        for topic in over {
            let through: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM events WHERE topic = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2",
            )
            .bind(&topic)
            .bind(max)
            .fetch_optional(pool)
            .await?;
            if let Some(through) = through {
                removed += delete_through(pool, through, Some(&topic)).await?;
            }
        }
    }
    Ok(removed)
}

/// Deletes events with `seq <= through` (of one topic, or all) chunk by chunk, keeping topic
/// statistics true; returns how many went.
async fn delete_through(pool: &PgPool, through: i64, topic: Option<&str>) -> sqlx::Result<u64> {
    let mut removed = 0;
    loop {
        let mut tx = pool.begin().await?;
        // Appends hold this lock while they update topic statistics.
        sqlx::query("SELECT seq FROM head FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        let gone: Vec<(String, i64, i64)> = match topic {
            None => sqlx::query_as(
                "WITH gone AS (
                     DELETE FROM events WHERE seq IN
                         (SELECT seq FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2)
                     RETURNING topic, seq)
                 SELECT topic, count(*), max(seq) FROM gone GROUP BY topic",
            )
            .bind(through)
            .bind(RETENTION_CHUNK),
            Some(topic) => sqlx::query_as(
                "WITH gone AS (
                     DELETE FROM events WHERE seq IN
                         (SELECT seq FROM events WHERE topic = $3 AND seq <= $1 ORDER BY seq LIMIT $2)
                     RETURNING topic, seq)
                 SELECT topic, count(*), max(seq) FROM gone GROUP BY topic",
            )
            .bind(through)
            .bind(RETENTION_CHUNK)
            .bind(topic),
        }
        .fetch_all(&mut *tx)
        .await?;
        let mut count = 0;
        for (name, n, max_seq) in &gone {
            sqlx::query(
                "UPDATE topics SET events = events - $2,
                   removed_through = greatest(removed_through, $3),
                   first_seq = (SELECT min(seq) FROM events WHERE topic = $1)
                 WHERE name = $1",
            )
            .bind(name)
            .bind(n)
            .bind(max_seq)
            .execute(&mut *tx)
            .await?;
            count += to_u64(*n);
        }
        tx.commit().await?;
        removed += count;
        if count < to_u64(RETENTION_CHUNK) {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_regex;

    #[test]
    fn patterns_become_anchored_regexes() {
        assert_eq!(pattern_regex("orders.42"), r"^orders\.42$");
        assert_eq!(pattern_regex("orders.*"), r"^orders\.[^.]+$");
        assert_eq!(pattern_regex("*.lobby.>"), r"^[^.]+\.lobby\..+$");
        assert_eq!(pattern_regex(">"), "^.+$");
        assert_eq!(pattern_regex("a_b-c.*"), r"^a_b-c\.[^.]+$");
    }
}
