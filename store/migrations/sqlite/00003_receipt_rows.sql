-- +goose Up
-- A receipt becomes two rows (store/receipts.go): receipts keeps what is
-- searched and what changes, bodies keeps the bytes written once. History and
-- attempts become JSON lines in the receipt's row instead of tables of their
-- own: each transition rewrites that row anyway, so a line costs no index
-- and no extra row. seq (the rowid) is the order receipts were stored in; it
-- breaks ties of received_at in listings and keys bodies. Idempotency keys
-- are clustered by key (WITHOUT ROWID: one B-tree, not a table and an index)
-- and record when the receipt holding them arrived (taken_at), so a batch of
-- ingests can take over expired keys in one statement.
CREATE TABLE receipts_v3 (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL,
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
    secret_id       TEXT    NOT NULL DEFAULT '',
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    round           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    history         TEXT    NOT NULL DEFAULT '', -- JSON lines: {"from","status","reason","at"}
    attempts        TEXT    NOT NULL DEFAULT ''  -- JSON lines, one per dispatch: {"round","attempts":[…]}
) STRICT;

INSERT INTO receipts_v3 (id, connection_type, connection, event_type, nonce, idempotency_key, status, reason,
    duplicate_of, received_at, updated_at, secret_id, attempt_count, round, next_attempt_at, lease_owner,
    lease_until, history, attempts)
SELECT r.id, r.connection_type, r.connection, r.event_type, r.nonce, r.idempotency_key, r.status, r.reason,
    r.duplicate_of, r.received_at, r.updated_at, r.secret_id, r.attempt_count, r.round, r.next_attempt_at,
    r.lease_owner, r.lease_until,
    COALESCE((SELECT group_concat(json_object('from', h.from_status, 'status', h.status, 'reason', h.reason,
        'at', h.at) || char(10), '' ORDER BY h.id) FROM history h WHERE h.receipt_id = r.id), ''),
    COALESCE((SELECT group_concat(line || char(10), '' ORDER BY round) FROM (
        SELECT a.round, json_object('round', a.round, 'attempts', json_group_array(json_object(
            'handler', a.handler, 'number', a.number, 'started_at', a.started_at, 'finished_at', a.finished_at,
            'outcome', a.outcome, 'status_code', a.status_code, 'error', a.error))) AS line
        FROM (SELECT * FROM attempts WHERE receipt_id = r.id ORDER BY round, started_at, number, id) a
        GROUP BY a.round)), '')
FROM receipts r ORDER BY r.received_at, r.id;

CREATE TABLE bodies (
    seq     INTEGER PRIMARY KEY, -- the receipt's
    headers TEXT    NOT NULL DEFAULT '{}', -- JSON object of http.Header
    body    BLOB,                          -- the bytes received, compressed when encoding is 1
    encoding INTEGER NOT NULL DEFAULT 0,   -- 0: as received; 1: S2 (store/content.go)
    trace   BLOB                           -- JSON verification trace of a rejected receipt
) STRICT;

INSERT INTO bodies (seq, headers, body, trace)
SELECT v.seq, r.headers, r.body, r.trace FROM receipts_v3 v JOIN receipts r ON r.id = v.id;

DROP TABLE history;
DROP TABLE attempts;
DROP TABLE receipts;
ALTER TABLE receipts_v3 RENAME TO receipts;

-- Few indexes, since ingest writes each of them (store/receipts.go). The
-- status indexes hold only receipts done with dispatch (no job): a receipt in
-- flight (received, dispatched, failed) has a job and is found through the due
-- index, so the transitions of dispatch, which change the status of a
-- receipt with a job, touch no status index until the last one. A listing
-- without a status (newest first, or one connection's) merges the ranges of
-- each status instead of keeping two more indexes for it.
CREATE UNIQUE INDEX receipts_id ON receipts (id);
CREATE INDEX receipts_due ON receipts (next_attempt_at, seq) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX receipts_status ON receipts (status, received_at, seq) WHERE next_attempt_at IS NULL;
CREATE INDEX receipts_connection_status ON receipts (connection, status, received_at, seq) WHERE next_attempt_at IS NULL;
CREATE INDEX receipts_connection_event ON receipts (connection, event_type, received_at, seq);

CREATE TABLE idempotency_keys_v3 (
    key        TEXT    PRIMARY KEY,
    receipt_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    taken_at   INTEGER NOT NULL DEFAULT 0 -- received_at of the receipt holding the key
) STRICT, WITHOUT ROWID;

INSERT INTO idempotency_keys_v3 (key, receipt_id, expires_at) SELECT key, receipt_id, expires_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v3 RENAME TO idempotency_keys;
-- No index on expires_at: pruning walks the keys in key order, a chunk at a
-- time (PruneIdempotencyKeys), so ingest does not write a second B-tree per key.

-- +goose Down
-- SQL cannot expand a compressed body: refuse (a CHECK failure) while any is
-- stored, rather than hand the old layout bytes it cannot read.
CREATE TEMP TABLE compressed_bodies_must_be_none (n INTEGER CHECK (n = 0));
INSERT INTO compressed_bodies_must_be_none SELECT COUNT(*) FROM bodies WHERE encoding <> 0;
DROP TABLE compressed_bodies_must_be_none;

-- The new table steps aside first: history and attempts refer to receipts by
-- name, and dropping a table they refer to would delete their rows.
ALTER TABLE receipts RENAME TO receipts_v3;

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
    headers         TEXT    NOT NULL DEFAULT '{}',
    body            BLOB,
    secret_id       TEXT    NOT NULL DEFAULT '',
    trace           BLOB,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    round           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER
) STRICT;

INSERT INTO receipts SELECT r.id, r.connection_type, r.connection, r.event_type, r.nonce, r.idempotency_key,
    r.status, r.reason, r.duplicate_of, r.received_at, r.updated_at, COALESCE(b.headers, '{}'), b.body,
    r.secret_id, b.trace, r.attempt_count, r.round, r.next_attempt_at, r.lease_owner, r.lease_until
FROM receipts_v3 r LEFT JOIN bodies b ON b.seq = r.seq;

CREATE TABLE history (
    id          INTEGER PRIMARY KEY,
    receipt_id  TEXT    NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    from_status TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL
) STRICT;

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

-- Each line ends with a newline: split on it.
INSERT INTO history (receipt_id, from_status, status, reason, at)
WITH RECURSIVE lines (seq, id, rest, line, n) AS (
    SELECT seq, id, history, NULL, 0 FROM receipts_v3
    UNION ALL
    SELECT seq, id, substr(rest, instr(rest, char(10)) + 1), substr(rest, 1, instr(rest, char(10)) - 1), n + 1
    FROM lines WHERE rest <> ''
)
SELECT id, COALESCE(json_extract(line, '$.from'), ''), json_extract(line, '$.status'),
    COALESCE(json_extract(line, '$.reason'), ''), json_extract(line, '$.at')
FROM lines WHERE n > 0 ORDER BY seq, n;

INSERT INTO attempts (receipt_id, round, handler, number, started_at, finished_at, outcome, status_code, error)
WITH RECURSIVE lines (seq, id, rest, line, n) AS (
    SELECT seq, id, attempts, NULL, 0 FROM receipts_v3
    UNION ALL
    SELECT seq, id, substr(rest, instr(rest, char(10)) + 1), substr(rest, 1, instr(rest, char(10)) - 1), n + 1
    FROM lines WHERE rest <> ''
)
SELECT l.id, json_extract(l.line, '$.round'), json_extract(a.value, '$.handler'), json_extract(a.value, '$.number'),
    json_extract(a.value, '$.started_at'), json_extract(a.value, '$.finished_at'), json_extract(a.value, '$.outcome'),
    COALESCE(json_extract(a.value, '$.status_code'), 0), COALESCE(json_extract(a.value, '$.error'), '')
FROM lines l, json_each(l.line, '$.attempts') a WHERE l.n > 0 ORDER BY l.seq, l.n, a.key;

DROP TABLE bodies;
DROP TABLE receipts_v3;
CREATE INDEX receipts_due ON receipts (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX receipts_newest ON receipts (received_at DESC, id DESC);
CREATE INDEX receipts_connection ON receipts (connection, received_at DESC, id DESC);
CREATE INDEX receipts_status ON receipts (status, received_at DESC, id DESC);
CREATE INDEX receipts_connection_status ON receipts (connection, status, received_at DESC, id DESC);
CREATE INDEX receipts_connection_event ON receipts (connection, event_type, received_at DESC, id DESC);
CREATE INDEX attempts_receipt ON attempts (receipt_id, round);
CREATE INDEX history_receipt ON history (receipt_id, id);

CREATE TABLE idempotency_keys_v2 (
    key        TEXT PRIMARY KEY,
    receipt_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
INSERT INTO idempotency_keys_v2 SELECT key, receipt_id, expires_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
