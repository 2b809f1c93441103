-- +goose Up
-- receipts is also the dispatch queue: every receipt is updated two or three
-- times within seconds of arriving (leased, completed), and each update
-- changes indexed columns, so it leaves a dead index entry at the front of
-- receipts_due, exactly where every claim starts scanning. With the default
-- autovacuum thresholds (20% of the table) those entries pile up by the
-- hundred thousand on a large table and claims slow to a crawl. Vacuum the
-- table after a fixed number of changes instead, without cost-based pauses.
ALTER TABLE receipts SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 50000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- +goose Down
ALTER TABLE receipts RESET (
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_threshold,
    autovacuum_vacuum_insert_scale_factor,
    autovacuum_vacuum_insert_threshold,
    autovacuum_analyze_scale_factor,
    autovacuum_vacuum_cost_delay
);
