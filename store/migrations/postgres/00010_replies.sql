-- +goose Up
-- What a handler answered (SPEC §4.2 "Job results"): the content type and
-- body of an attempt's reply, bounded by webhooks.max_reply_bytes
-- (store/replies.go). A table of its own, keyed by the receipt's seq like
-- bodies: a reply of 64 KiB in the attempts line would be copied by every
-- later version of the receipt's row. The attempt itself (status code,
-- outcome) stays in that line; a reply row exists only for an attempt that
-- answered a body or a content type.
CREATE TABLE replies (
    seq          BIGINT   NOT NULL, -- the receipt's
    round        INTEGER  NOT NULL,
    handler      TEXT     NOT NULL,
    number       INTEGER  NOT NULL,
    content_type TEXT     NOT NULL DEFAULT '',
    body         BYTEA,
    truncated    BOOLEAN  NOT NULL DEFAULT false,
    PRIMARY KEY (seq, round, handler, number)
);

-- +goose Down
DROP TABLE replies;
