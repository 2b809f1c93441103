-- +goose Up
-- Where the budget of a connection's rejected receipts stands (store/rejected.go):
-- every rejected receipt of the connection at or below (received_at, seq) has
-- had its headers and body dropped, so enforcing the budget starts here
-- instead of reading every rejected receipt the connection ever had.
CREATE TABLE rejected_floors (
    connection  TEXT    PRIMARY KEY,
    received_at INTEGER NOT NULL,
    seq         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE rejected_floors;
