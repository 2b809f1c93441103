-- +goose Up
-- Listing one connection's receipts filtered by status or event type must not
-- scan the connection's whole history when few (or no) rows match: with a
-- million receipts such a listing took 0.5–1 s through receipts_connection or
-- receipts_status. Each index serves "connection = ? AND status|event_type = ?
-- ORDER BY received_at DESC, id DESC", with since/until as a range.
CREATE INDEX receipts_connection_status ON receipts (connection, status, received_at DESC, id DESC);
CREATE INDEX receipts_connection_event ON receipts (connection, event_type, received_at DESC, id DESC);

-- +goose Down
DROP INDEX receipts_connection_event;
DROP INDEX receipts_connection_status;
