-- +goose Up
-- Handlers registered at run time (admin API); config is the JSON of
-- hookgate.HandlerConfig with its signing secret, sealed whole like a
-- connection's (store/seal.go).
CREATE TABLE handlers (
    name       TEXT PRIMARY KEY,
    type       TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE handlers;
