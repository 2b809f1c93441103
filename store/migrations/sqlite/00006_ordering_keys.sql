-- +goose Up
-- A route's ordering_key (SPEC §4.2): receipts of one connection with the
-- same key are dispatched one at a time, in the order they were stored (seq).
-- NULL (no key) is the rule, so the column costs nothing where ordering is
-- unused. The index holds only keyed receipts with a pending job: it is what
-- Claim asks "is an earlier receipt with this key still unfinished?", and a
-- receipt leaves it when its job ends. Claims change no column it covers.
ALTER TABLE receipts ADD COLUMN ordering_key TEXT;
CREATE INDEX receipts_ordering ON receipts (connection, ordering_key, seq)
    WHERE ordering_key IS NOT NULL AND next_attempt_at IS NOT NULL;

-- +goose Down
DROP INDEX receipts_ordering;
ALTER TABLE receipts DROP COLUMN ordering_key;
