-- +goose Up
-- Backfill (SPEC §4.5). A receipt fetched from the provider's API instead of
-- delivered to ingress says so in source ('backfill'); NULL, the rule, is a
-- delivery. Adding a nullable column without a default rewrites no row, and
-- no index covers it, so claims stay HOT updates (00005).
-- backfill_leases lets one instance at a time run a connection's background
-- backfill when several share the database: an instance takes the row when
-- it is free or its lease has expired (expires_at, microseconds).
ALTER TABLE receipts ADD COLUMN source TEXT;
CREATE TABLE backfill_leases (
    connection TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE backfill_leases;
ALTER TABLE receipts DROP COLUMN source;
