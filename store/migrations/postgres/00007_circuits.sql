-- +goose Up
-- Handlers' circuit breakers (store/circuits.go, SPEC §4.2), kept in the
-- database so that every instance sharing it sees the same circuit and a
-- restart keeps it. A handler that never failed has no row (closed).
-- Times are unix microseconds; opened_at and retry_at are 0 when closed.
CREATE TABLE circuits (
    handler              TEXT    PRIMARY KEY,
    state                TEXT    NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    opened_at            BIGINT  NOT NULL,
    retry_at             BIGINT  NOT NULL,
    version              BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE circuits;
