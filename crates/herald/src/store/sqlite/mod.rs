//! The embedded store: SQLite in WAL mode, in the data directory.
//!
//! One writer thread owns the only writing connection and commits appends in groups: every
//! request queued while the previous commit was syncing goes into the next transaction, so one
//! fsync serves many publishers. Because that thread assigns `seq` and announces commits on the
//! bus in order, no reader can ever see `seq` N+1 before N. Reads go to a small pool of
//! connections, which WAL lets run alongside the writer.

mod queues;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::{Semaphore, mpsc, oneshot};

mod keys;
mod webhooks;

use super::{Appended, RetentionPolicy, Store, StoreError, TopicInfo};
use crate::bus::Bus;
use crate::core::event::{Event, NewEvent, Payload, generate_id, now_ms};
use crate::core::topic::{Pattern, PatternSet};

/// How hard a commit works to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync at every (group) commit: an acknowledged event survives power loss. The default.
    Full,
    /// No fsync at commit: survives a crash of Herald (even `kill -9`), not of the machine.
    Normal,
    /// Leave it all to the OS: fastest, for tests and throwaway data.
    Off,
}

/// Most append requests committed in one transaction.
const MAX_GROUP: usize = 512;
/// Rows examined per retention step, so the writer never holds a long transaction.
const RETENTION_CHUNK: usize = 5_000;
/// Concurrent read connections.
const READERS: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    topic        TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    time_ms      INTEGER NOT NULL,
    encoding     INTEGER NOT NULL,   -- 0 JSON, 1 text, 2 binary
    content_type TEXT,
    data         BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_topic_id ON events (topic, id);
CREATE INDEX IF NOT EXISTS events_topic_seq ON events (topic, seq);
CREATE TABLE IF NOT EXISTS topics (
    name              TEXT    PRIMARY KEY,
    events            INTEGER NOT NULL,
    first_seq         INTEGER,
    last_seq          INTEGER,
    last_published_ms INTEGER,
    removed_through   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
";

const EVENT_COLUMNS: &str = "seq, topic, id, type, time_ms, encoding, content_type, data, headers";

/// Adds columns that later versions introduced to a database an older version created.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_headers: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'headers'",
        [],
        |r| r.get(0),
    )?;
    if !has_headers {
        // JSON array of [name, value] pairs (STOMP SEND user headers); NULL when there are none.
        conn.execute_batch("ALTER TABLE events ADD COLUMN headers TEXT")?;
    }
    Ok(())
}

/// Tells a write's caller how it went, once its group's commit outcome is known.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A write run on the writer thread inside a group's transaction (see [`SqliteStore::write`]):
/// it reports whether it succeeded (else its savepoint is rolled back) and how to answer.
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

enum Command {
    Append(
        Vec<NewEvent>,
        oneshot::Sender<Result<Vec<Appended>, StoreError>>,
    ),
    Write(WriteJob),
    Retention(RetentionPolicy, oneshot::Sender<Result<u64, StoreError>>),
    Close(oneshot::Sender<()>),
}

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    readers: Arc<ReaderPool>,
    head: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating if needed) `herald.db` in `dir`, and starts the writer thread.
    pub fn open(dir: &Path, sync: SyncMode, bus: Arc<dyn Bus>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("herald.db");
        let conn = Connection::open(&path).map_err(backend)?;
        let mode = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
            SyncMode::Off => "OFF",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {mode}; PRAGMA busy_timeout = 5000;"
        ))
        .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        conn.execute_batch(webhooks::SCHEMA).map_err(backend)?;
        conn.execute_batch(keys::SCHEMA).map_err(backend)?;
        migrate(&conn).map_err(backend)?;
        conn.execute_batch(queues::SCHEMA).map_err(backend)?;
        let (head, last_time): (u64, i64) = conn
            .query_row(
                "SELECT coalesce(max(seq), 0), coalesce(max(time_ms), 0) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(backend)?;
        let head = Arc::new(AtomicU64::new(head));
        let writer = Writer {
            conn,
            next_seq: head.load(Ordering::SeqCst) + 1,
            last_time,
            bus,
            head: head.clone(),
        };
        let (commands, rx) = mpsc::channel(4 * MAX_GROUP);
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        let readers = Arc::new(ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(READERS),
        });
        Ok(Self {
            commands,
            readers,
            head,
        })
    }

    /// Runs `f` on the writer thread, committed together with the appends and writes queued
    /// alongside it (one fsync for the group); `f` runs in its own savepoint, so its failure
    /// undoes only its own changes. Other tables of the store (webhooks, queues) write through
    /// this, so there is one writer.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit| {
                let _ = tx.send(commit.and(result.map_err(backend)));
            });
            (ok, finish)
        });
        self.commands
            .send(Command::Write(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a read connection.
    pub async fn read_with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.readers.run(f).await
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, StoreError> {
        self.call(|tx| Command::Append(events, tx)).await?
    }

    async fn read(
        &self,
        patterns: &PatternSet,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1");
        let mut args: Vec<String> = Vec::new();
        if !patterns.matches_all() {
            let clauses: Vec<String> = patterns
                .patterns()
                .iter()
                .map(|p| {
                    args.push(p.as_str().to_owned());
                    let n = args.len() + 2;
                    if p.is_exact() {
                        format!("topic = ?{n}")
                    } else {
                        format!("herald_match(?{n}, topic)")
                    }
                })
                .collect();
            sql.push_str(&format!(" AND ({})", clauses.join(" OR ")));
        }
        sql.push_str(" ORDER BY seq LIMIT ?2");
        self.readers
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&after, &limit];
                values.extend(args.iter().map(|a| a as &dyn rusqlite::ToSql));
                let rows = stmt.query_map(values.as_slice(), event_from_row)?;
                rows.collect()
            })
            .await
    }

    async fn events_at(&self, seqs: &[u64]) -> Result<Vec<Arc<Event>>, StoreError> {
        let seqs = seqs.to_vec();
        self.readers
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"
                ))?;
                let mut out = Vec::with_capacity(seqs.len());
                for seq in seqs {
                    if let Some(event) = stmt.query_row([seq], event_from_row).optional()? {
                        out.push(event);
                    }
                }
                out.sort_by_key(|e| e.seq);
                Ok(out)
            })
            .await
    }

    async fn seq_before(&self, time_ms: i64) -> Result<u64, StoreError> {
        self.readers
            .run(move |conn| {
                // Times never decrease along seq, so the answer is a binary search away; SQLite
                // has no index on time, so search seq by bounds instead of scanning.
                let (mut lo, mut hi): (u64, u64) = conn.query_row(
                    "SELECT coalesce(min(seq), 1) - 1, coalesce(max(seq), 0) FROM events",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, time_ms FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
                )?;
                // Invariant: every event with seq <= lo is before time_ms; none after hi is.
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    let (seq, time): (u64, i64) =
                        stmt.query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    if time < time_ms {
                        lo = seq;
                    } else {
                        hi = mid - 1;
                    }
                }
                Ok(lo)
            })
            .await
    }

    fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>, StoreError> {
        self.readers
            .run(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!("SELECT {TOPIC_COLUMNS} FROM topics ORDER BY name"))?;
                let rows = stmt.query_map([], topic_from_row)?;
                rows.collect()
            })
            .await
    }

    async fn topic(&self, name: &str) -> Result<Option<TopicInfo>, StoreError> {
        let name = name.to_owned();
        self.readers
            .run(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {TOPIC_COLUMNS} FROM topics WHERE name = ?1"
                ))?
                .query_row([name], topic_from_row)
                .optional()
            })
            .await
    }

    async fn removed_through(&self, patterns: &PatternSet) -> Result<u64, StoreError> {
        let removed: Vec<(String, u64)> = self
            .readers
            .run(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT name, removed_through FROM topics WHERE removed_through > 0",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        Ok(removed
            .into_iter()
            .filter(|(name, _)| patterns.matches(name))
            .map(|(_, seq)| seq)
            .max()
            .unwrap_or(0))
    }

    async fn enforce_retention(&self, policy: RetentionPolicy) -> Result<u64, StoreError> {
        self.call(|tx| Command::Retention(policy, tx)).await?
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn close(&self) {
        let _ = self.call(Command::Close).await;
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Arc<Event>> {
    let encoding: i64 = row.get(5)?;
    let content_type: Option<String> = row.get(6)?;
    let data: Vec<u8> = row.get(7)?;
    let text = |data: Vec<u8>| {
        String::from_utf8(data).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Blob, e.into())
        })
    };
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
    let headers: Option<String> = row.get(8)?;
    let headers = match headers {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.into())
        })?,
        None => Vec::new(),
    };
    Ok(Event::with_headers(
        row.get(0)?,
        row.get(2)?,
        row.get(1)?,
        row.get(3)?,
        row.get(4)?,
        payload,
        headers,
    ))
}

const TOPIC_COLUMNS: &str = "name, events, first_seq, last_seq, last_published_ms, removed_through";

fn topic_from_row(row: &Row<'_>) -> rusqlite::Result<TopicInfo> {
    Ok(TopicInfo {
        topic: row.get(0)?,
        events: row.get(1)?,
        first_seq: row.get(2)?,
        last_seq: row.get(3)?,
        last_published_ms: row.get(4)?,
        removed_through: row.get(5)?,
    })
}

/// Read connections, opened on demand, at most [`READERS`] at a time.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReaderPool {
    async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                Some(conn) => conn,
                None => open_reader(&pool.path)?,
            };
            let result = f(&conn);
            pool.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
        .map_err(backend)
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA query_only = 1; PRAGMA busy_timeout = 5000;")?;
    // herald_match(pattern, topic): the pattern is parsed once per statement (SQLite aux data).
    conn.create_scalar_function(
        "herald_match",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let pattern = ctx.get_or_create_aux(0, |v| {
                Pattern::parse(v.as_str()?)
                    .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
            })?;
            Ok(pattern.matches(ctx.get_raw(1).as_str()?))
        },
    )?;
    Ok(conn)
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    next_seq: u64,
    /// Times never go backwards along `seq`, so retention by age can walk the log in order.
    last_time: i64,
    bus: Arc<dyn Bus>,
    head: Arc<AtomicU64>,
}

type Reply = oneshot::Sender<Result<Vec<Appended>, StoreError>>;

/// Work that commits with its group.
enum Job {
    Append(Vec<NewEvent>, Reply),
    Write(WriteJob),
}

impl Writer {
    fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut group: Vec<Job> = Vec::new();
        while let Some(mut command) = commands.blocking_recv() {
            loop {
                match command {
                    Command::Append(events, reply) => group.push(Job::Append(events, reply)),
                    Command::Write(job) => group.push(Job::Write(job)),
                    Command::Retention(policy, reply) => {
                        self.commit_group(&mut group);
                        let _ = reply.send(self.retention(policy).map_err(backend));
                    }
                    Command::Close(reply) => {
                        self.commit_group(&mut group);
                        let _ = reply.send(());
                        return;
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
            self.commit_group(&mut group);
        }
    }

    /// Commits every queued job in one transaction, then announces new events and replies.
    fn commit_group(&mut self, group: &mut Vec<Job>) {
        if group.is_empty() {
            return;
        }
        let (first_seq, last_time) = (self.next_seq, self.last_time);
        let mut replies = Vec::with_capacity(group.len());
        let mut finishers = Vec::new();
        match self.run_group(group.drain(..), &mut replies, &mut finishers) {
            Ok(created) => {
                self.head.store(self.next_seq - 1, Ordering::SeqCst);
                self.bus.publish(&created);
                for (reply, result) in replies {
                    let _ = reply.send(result);
                }
                for finish in finishers {
                    finish(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; every caller in the group gets an error");
                self.next_seq = first_seq;
                self.last_time = last_time;
                for (reply, _) in replies {
                    let _ = reply.send(Err(backend_ref(&e)));
                }
                for finish in finishers {
                    finish(Err(backend_ref(&e)));
                }
            }
        }
    }

    /// Runs each job in its own savepoint of one transaction, so a failing job fails alone.
    fn run_group(
        &mut self,
        jobs: impl Iterator<Item = Job>,
        replies: &mut Vec<(Reply, Result<Vec<Appended>, StoreError>)>,
        finishers: &mut Vec<Finish>,
    ) -> rusqlite::Result<Vec<Arc<Event>>> {
        let time = now_ms().max(self.last_time);
        let mut next_seq = self.next_seq;
        let mut created = Vec::new();
        let mut tx = self.conn.transaction()?;
        for job in jobs {
            let mut sp = tx.savepoint()?;
            match job {
                Job::Append(events, reply) => {
                    let start = next_seq;
                    match append_request(&sp, events, &mut next_seq, time) {
                        Ok(appended) => {
                            sp.commit()?;
                            created.extend(
                                appended
                                    .iter()
                                    .filter(|a| a.created)
                                    .map(|a| a.event.clone()),
                            );
                            replies.push((reply, Ok(appended)));
                        }
                        Err(e) => {
                            sp.rollback()?;
                            next_seq = start;
                            replies.push((reply, Err(backend(e))));
                        }
                    }
                }
                Job::Write(run) => {
                    let (ok, finish) = run(&sp);
                    finishers.push(finish);
                    if ok {
                        sp.commit()?;
                    } else {
                        sp.rollback()?;
                    }
                }
            }
        }
        update_topic_stats(&tx, &created)?;
        tx.commit()?;
        self.next_seq = next_seq;
        self.last_time = time;
        Ok(created)
    }

    fn retention(&mut self, policy: RetentionPolicy) -> rusqlite::Result<u64> {
        let mut removed = 0;
        let cutoff = now_ms() - policy.max_age_ms;
        loop {
            // Times grow with seq, so the expired events are a prefix of the log.
            let rows: Vec<(u64, i64)> = {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT seq, time_ms FROM events ORDER BY seq LIMIT ?1")?;
                stmt.query_map([RETENTION_CHUNK], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            let expired: Vec<u64> = rows
                .iter()
                .take_while(|(_, t)| *t < cutoff)
                .map(|(s, _)| *s)
                .collect();
            let Some(&through) = expired.last() else {
                break;
            };
            removed += self.delete_through(through, None)?;
            if expired.len() < RETENTION_CHUNK {
                break;
            }
        }
        if let Some(max) = policy.max_events_per_topic {
            let over: Vec<String> = {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT name FROM topics WHERE events > ?1")?;
                stmt.query_map([max], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            for topic in over {
                let through: Option<u64> = self
                    .conn
                    .prepare_cached("SELECT seq FROM events WHERE topic = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2")?
                    .query_row(params![topic, max], |r| r.get(0))
                    .optional()?;
                if let Some(through) = through {
                    removed += self.delete_through(through, Some(&topic))?;
                }
            }
        }
        Ok(removed)
    }

    /// Deletes events with `seq <= through` (of one topic, or all), keeping topic stats true.
    fn delete_through(&mut self, through: u64, topic: Option<&str>) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        let filter = if topic.is_some() {
            " AND topic = ?2"
        } else {
            ""
        };
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&through];
        if let Some(t) = &topic {
            args.push(t);
        }
        let gone: Vec<(String, u64, u64)> = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT topic, count(*), max(seq) FROM events WHERE seq <= ?1{filter} GROUP BY topic"
            ))?;
            let rows =
                stmt.query_map(args.as_slice(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            &format!("DELETE FROM events WHERE seq <= ?1{filter}"),
            args.as_slice(),
        )?;
        let mut removed = 0;
        for (name, count, max_seq) in gone {
            tx.prepare_cached(
                "UPDATE topics SET events = events - ?2, removed_through = max(removed_through, ?3),
                 first_seq = (SELECT min(seq) FROM events WHERE topic = ?1) WHERE name = ?1",
            )?
            .execute(params![name, count, max_seq])?;
            removed += count;
        }
        tx.commit()?;
        Ok(removed)
    }
}

fn backend_ref(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Appends one request's events; an id already on the topic yields the stored event.
fn append_request(
    conn: &Connection,
    events: Vec<NewEvent>,
    next_seq: &mut u64,
    time: i64,
) -> rusqlite::Result<Vec<Appended>> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if let Some(id) = &event.id {
            let existing = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE topic = ?1 AND id = ?2"
                ))?
                .query_row(params![event.topic.as_str(), id], event_from_row)
                .optional()?;
            if let Some(event) = existing {
                out.push(Appended {
                    event,
                    created: false,
                });
                continue;
            }
        }
        let id = event.id.unwrap_or_else(generate_id);
        let event_type = event
            .event_type
            .unwrap_or_else(|| event.topic.as_str().to_owned());
        let (encoding, content_type, data): (i64, Option<&str>, &[u8]) = match &event.payload {
            Payload::Json(json) => (0, None, json.as_bytes()),
            Payload::Text { content_type, text } => (1, Some(content_type), text.as_bytes()),
            Payload::Binary {
                content_type,
                bytes,
            } => (2, Some(content_type), bytes),
        };
        let headers = (!event.headers.is_empty())
            .then(|| serde_json::to_string(&event.headers).expect("string pairs serialise"));
        let seq = *next_seq;
        conn.prepare_cached("INSERT INTO events (seq, topic, id, type, time_ms, encoding, content_type, data, headers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?
            .execute(params![seq, event.topic.as_str(), id, event_type, time, encoding, content_type, data, headers])?;
        *next_seq += 1;
        let event = Event::with_headers(
            seq,
            id,
            event.topic.as_str().to_owned(),
            event_type,
            time,
            event.payload,
            event.headers,
        );
        out.push(Appended {
            event,
            created: true,
        });
    }
    Ok(out)
}

fn update_topic_stats(conn: &Connection, created: &[Arc<Event>]) -> rusqlite::Result<()> {
    let mut stats: HashMap<&str, (u64, u64, u64, i64)> = HashMap::new();
    for e in created {
        let s = stats
            .entry(&e.topic)
            .or_insert((0, e.seq, e.seq, e.time_ms));
        s.0 += 1;
        s.2 = e.seq;
        s.3 = e.time_ms;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO topics (name, events, first_seq, last_seq, last_published_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET events = events + excluded.events,
           first_seq = coalesce(first_seq, excluded.first_seq), last_seq = excluded.last_seq,
           last_published_ms = excluded.last_published_ms",
    )?;
    for (topic, (count, first, last, time)) in stats {
        stmt.execute(params![topic, count, first, last, time])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::local::LocalBus;
    use crate::core::topic::Topic;

    /// A database written before events had user headers opens, keeps its events, and takes
    /// new events with headers.
    #[tokio::test]
    async fn an_older_database_gains_the_headers_column() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("herald.db")).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL,
                   type TEXT NOT NULL, time_ms INTEGER NOT NULL, encoding INTEGER NOT NULL,
                   content_type TEXT, data BLOB NOT NULL);
                 INSERT INTO events VALUES (1, 'old.t', 'e1', 'old.t', 5, 0, NULL, CAST('{\"a\":1}' AS BLOB));",
            )
            .unwrap();
        }
        let bus = Arc::new(LocalBus::new(16));
        let store = SqliteStore::open(dir.path(), SyncMode::Off, bus).unwrap();
        let all = PatternSet::parse(&[">"]).unwrap().unwrap();
        let events = store.read(&all, 0, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert!(events[0].headers.is_empty());
        let appended = store
            .append(vec![NewEvent {
                topic: Topic::parse("new.t").unwrap(),
                id: None,
                event_type: None,
                payload: Payload::Json("2".into()),
                headers: vec![("x-a".into(), "1".into()), ("x-b".into(), "2".into())],
            }])
            .await
            .unwrap();
        assert_eq!(appended[0].event.seq, 2);
        let events = store.read(&all, 1, 10).await.unwrap();
        assert_eq!(
            events[0].headers,
            [
                ("x-a".to_owned(), "1".to_owned()),
                ("x-b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(&events[0].json()[..], appended[0].event.json().as_ref());
        store.close().await;
    }
}
