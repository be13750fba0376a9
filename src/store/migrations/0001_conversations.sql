-- The conversation store, version 1. One SQL dialect for SQLite and PostgreSQL: TEXT,
-- BIGINT (times are Unix milliseconds, days are days since 1970-01-01 UTC), DOUBLE
-- PRECISION and INTEGER only; no autoincrement.

-- One row per conversation the daemon knows: listed by the details query, scored by STA,
-- by a webhook or fetched for a conversation-end event.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    started_at BIGINT,
    agent_id TEXT,
    queue_id TEXT,
    media_type TEXT,
    raw_score DOUBLE PRECISION,
    scale TEXT,
    quality_score DOUBLE PRECISION,
    normalization_version TEXT,
    trend_score DOUBLE PRECISION,
    trend_class TEXT,
    source TEXT,
    attribution TEXT,
    analysed INTEGER NOT NULL DEFAULT 0,
    fetched_at BIGINT,
    sta_attempts INTEGER NOT NULL DEFAULT 0,
    next_fetch_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_started_at ON conversations (started_at);

-- Which UTC days the details query (or the aggregates query) has covered, under which filter,
-- and whether the day was settled (before Genesys's data-availability date) when covered.
CREATE TABLE coverage (
    source TEXT NOT NULL,
    day BIGINT NOT NULL,
    filter_key TEXT NOT NULL,
    settled INTEGER NOT NULL,
    conversations BIGINT NOT NULL,
    covered_at BIGINT NOT NULL,
    PRIMARY KEY (source, day)
);

-- Daily transcript aggregates (`batch.source = "aggregates"`), one row per group and day.
CREATE TABLE daily_aggregates (
    dimension TEXT NOT NULL,
    group_key TEXT NOT NULL,
    day BIGINT NOT NULL,
    count BIGINT NOT NULL,
    sum_quality DOUBLE PRECISION NOT NULL,
    min_quality DOUBLE PRECISION NOT NULL,
    max_quality DOUBLE PRECISION NOT NULL,
    positive BIGINT NOT NULL,
    negative BIGINT NOT NULL,
    PRIMARY KEY (dimension, group_key, day)
);

-- Display names of users and queues (NULL name: Genesys did not return the id).
CREATE TABLE names (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- The latest reports (JSON), newest by generated_at.
CREATE TABLE reports (
    generated_at BIGINT PRIMARY KEY,
    body TEXT NOT NULL
);

-- Batch runs (JSON), keyed by when they started and their number.
CREATE TABLE runs (
    run_key TEXT PRIMARY KEY,
    finished_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
