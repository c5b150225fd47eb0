-- Herald's PostgreSQL schema: the log, its topics, webhooks, API keys and queues.
-- Same shape as the embedded SQLite store, with PostgreSQL types.

-- The one row every log writer locks: `seq` is the highest assigned (and, once the writer
-- commits, visible) seq; `time_ms` the latest event time, so times never go backwards along
-- seq even when nodes' clocks disagree.
CREATE TABLE head (
    id      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq     BIGINT  NOT NULL,
    time_ms BIGINT  NOT NULL
);
INSERT INTO head (id, seq, time_ms) VALUES (TRUE, 0, 0);

CREATE TABLE events (
    seq          BIGINT   PRIMARY KEY,
    topic        TEXT     NOT NULL,
    id           TEXT     NOT NULL,
    type         TEXT     NOT NULL,
    time_ms      BIGINT   NOT NULL,
    encoding     SMALLINT NOT NULL,   -- 0 JSON, 1 text, 2 binary
    content_type TEXT,
    data         BYTEA    NOT NULL,
    headers      TEXT                 -- JSON array of [name, value] pairs; NULL when none
);
CREATE UNIQUE INDEX events_topic_id ON events (topic, id);
CREATE INDEX events_topic_seq ON events (topic, seq);
-- seq_before and retention by age: times grow with seq, so this finds the boundary at once.
CREATE INDEX events_time ON events (time_ms, seq);

CREATE TABLE topics (
    name              TEXT   PRIMARY KEY,
    events            BIGINT NOT NULL,
    first_seq         BIGINT,
    last_seq          BIGINT,
    last_published_ms BIGINT,
    removed_through   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE subscriptions (
    id                         TEXT   PRIMARY KEY,
    spec                       TEXT   NOT NULL,   -- JSON of webhook::model::Spec
    state                      TEXT   NOT NULL,
    disabled_reason            TEXT,
    secret                     TEXT   NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_ms BIGINT,
    cursor                     BIGINT NOT NULL,
    failing_since_ms           BIGINT,
    created_ms                 BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id              TEXT    PRIMARY KEY,   -- ULID-based, so ordering by id is by creation
    subscription_id TEXT    NOT NULL,
    msg_id          TEXT    NOT NULL,
    event_seqs      TEXT    NOT NULL,      -- JSON array
    event_ids       TEXT    NOT NULL,      -- JSON array
    batch           BOOLEAN NOT NULL,
    status          TEXT    NOT NULL,
    attempts        TEXT    NOT NULL,      -- JSON array of attempts
    next_attempt_ms BIGINT,
    created_ms      BIGINT  NOT NULL
);
CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, status, id);

CREATE TABLE api_keys (
    id          TEXT   PRIMARY KEY,
    hash        BYTEA  NOT NULL,
    scopes      TEXT   NOT NULL,   -- JSON array
    description TEXT,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);

CREATE TABLE queue_messages (
    pos          BIGSERIAL PRIMARY KEY,
    queue        TEXT      NOT NULL,
    message_id   TEXT      NOT NULL,
    content_type TEXT,
    body         BYTEA     NOT NULL,
    headers      TEXT,                -- JSON array of [name, value] pairs, NULL when none
    delivered    BOOLEAN   NOT NULL DEFAULT FALSE
);
