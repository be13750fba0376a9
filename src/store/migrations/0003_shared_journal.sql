-- Version 3 (PostgreSQL only): the journal, its dedupe keys and the outbox, shared by
-- replicas. Every webhook's record, its dedupe keys and (for what is owed to the coaching
-- platform) its outbox row are written in one transaction, committed before the 202.
-- Times are Unix microseconds.

-- The audit journal. A record is committed unsealed (seq, hash and line NULL, the entry as
-- JSON); the sealer (one replica at a time, under an advisory lock) then links committed
-- records in the order it finds them: it gives each the next seq, writes the exact JSONL
-- line the file journal would hold (with prev_hash and hash) and drops the entry, so the
-- sealed line is the only copy and any edit breaks the chain.
CREATE TABLE journal_records (
    id BIGSERIAL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    replica TEXT NOT NULL,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT,
    seq BIGINT UNIQUE,
    hash TEXT,
    line TEXT
);
CREATE INDEX journal_records_unsealed ON journal_records (id) WHERE seq IS NULL;
CREATE INDEX journal_records_kind ON journal_records (kind, recorded_at);

-- Dedupe keys (the SHA-256-derived digest of `conv:ID:KIND`, `whid:ID`, `ebid:ID`,
-- `rec:ID`) with the event they belong to. A key older than journal.dedupe_window may be
-- taken again; anything younger refuses the second event across every replica.
CREATE TABLE journal_dedupe (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    stored_at BIGINT NOT NULL
);
CREATE INDEX journal_dedupe_stored_at ON journal_dedupe (stored_at);

-- Deliveries owed to the coaching platform. A row is claimed by one replica at a time
-- (claimed_by, renewed until claimed_until); a replica that dies stops renewing and another
-- claims the row (FOR UPDATE SKIP LOCKED) once the claim has run out. Delivered rows are
-- deleted in the transaction of their `delivered` record; dead letters keep `dead`.
CREATE TABLE journal_outbox (
    event_id TEXT PRIMARY KEY,
    record_id BIGINT NOT NULL,
    since BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    attributed TEXT,
    dead TEXT,
    claimed_by TEXT,
    claimed_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX journal_outbox_claim ON journal_outbox (claimed_until, record_id) WHERE dead IS NULL;
CREATE INDEX journal_outbox_claimed_by ON journal_outbox (claimed_by) WHERE dead IS NULL;

-- The last sealed record (one row): cutting sealed records from the end shows.
CREATE TABLE journal_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
