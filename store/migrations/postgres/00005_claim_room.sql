-- +goose Up
-- Room in each page for the row versions claims write. A claim changes only
-- unindexed columns (the lease, a history line), so it is a HOT update — no
-- new index entries — when its new version fits in the receipt's page, and
-- receipts are claimed a page at a time, oldest first. With 20 % of a page
-- free (00004) that room held the new versions of about one receipt in five,
-- so most claims wrote a version elsewhere and an entry in three indexes
-- (store/postgres_test.go TestPostgresClaimStaysInPage: 248 of 300 moved; 54
-- with half the page free; none with 55 %). The cost is a receipts heap (not
-- its bodies) about 1.8 times as large: rows of about 330 bytes, 10 to a page
-- instead of 19, about 350 MB more per million receipts. Pages written before
-- this migration keep their layout.
ALTER TABLE receipts SET (fillfactor = 45);

-- +goose Down
ALTER TABLE receipts SET (fillfactor = 80);
