-- +goose Up
-- Times are INTEGER unix microseconds, UTC. Empty strings stand for "none" in
-- text columns, except where NULL carries meaning (duplicate_of, job and lease
-- columns).

-- receipts is also the dispatch queue: a row whose next_attempt_at is set is a
-- pending job.
CREATE TABLE receipts (
    id              TEXT PRIMARY KEY,
    connection_type TEXT    NOT NULL DEFAULT '',
    connection      TEXT    NOT NULL,
    event_type      TEXT    NOT NULL DEFAULT '',
    nonce           TEXT    NOT NULL DEFAULT '',
    idempotency_key TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    reason          TEXT    NOT NULL DEFAULT '',
    duplicate_of    TEXT,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    headers         TEXT    NOT NULL DEFAULT '{}', -- JSON object of http.Header
    body            BLOB,                          -- raw bytes exactly as received
    secret_id       TEXT    NOT NULL DEFAULT '',
    trace           BLOB,                          -- JSON verification trace
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    round           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER
) STRICT;

CREATE INDEX receipts_due ON receipts (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX receipts_newest ON receipts (received_at DESC, id DESC);
CREATE INDEX receipts_connection ON receipts (connection, received_at DESC, id DESC);
CREATE INDEX receipts_status ON receipts (status, received_at DESC, id DESC);

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    receipt_id  TEXT    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    round       INTEGER NOT NULL,
    handler     TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX attempts_receipt ON attempts (receipt_id, round);

CREATE TABLE history (
    id          INTEGER PRIMARY KEY, -- the order of transitions
    receipt_id  TEXT    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    from_status TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX history_receipt ON history (receipt_id, id);

-- No foreign key to receipts: retention may prune a receipt before its key
-- expires, and the key must keep deduplicating until then.
CREATE TABLE idempotency_keys (
    key        TEXT PRIMARY KEY,
    receipt_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- Connections registered at run time; config is the JSON of hookgate.Connection.
CREATE TABLE connections (
    name       TEXT PRIMARY KEY, -- unique across all types
    type       TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE connections;
DROP TABLE idempotency_keys;
DROP TABLE history;
DROP TABLE attempts;
DROP TABLE receipts;
