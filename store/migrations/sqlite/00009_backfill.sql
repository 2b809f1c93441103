-- +goose Up
-- Backfill (SPEC §4.5). A receipt fetched from the provider's API instead of
-- delivered to ingress says so in source ('backfill'); NULL, the rule, is a
-- delivery, so the column costs nothing where backfill is unused.
-- backfill_leases lets one process at a time run a connection's background
-- backfill when several share the store: a process takes the row when it is
-- free or its lease has expired (expires_at, microseconds).
ALTER TABLE receipts ADD COLUMN source TEXT;
CREATE TABLE backfill_leases (
    connection TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE backfill_leases;
ALTER TABLE receipts DROP COLUMN source;
