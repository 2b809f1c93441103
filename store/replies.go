package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// Synchronous routes and job results (SPEC §4.2).
//
// A synchronous route's delivery is ingested with its job already leased to
// the process that runs its handlers inline (IngestLeased): the lease is
// written by one more statement in the ingest's own transaction, only for
// such deliveries, so every other ingest runs the statements it always ran.
//
// A handler's reply (content type and body) is kept in replies, beside the
// attempt, keyed by the receipt's seq and the attempt's round, handler and
// number; the attempt's line keeps its status code and outcome.

// IngestLeased implements hookgate.Store.
func (db *DB) IngestLeased(ctx context.Context, r *hookgate.Receipt, ttl time.Duration, owner string, until time.Time) ([]hookgate.Transition, error) {
	if owner == "" {
		return nil, hookgate.Errorf(hookgate.EInvalid, "ingest leased: owner is required")
	}
	if r.ID == "" || r.ReceivedAt.IsZero() {
		return nil, hookgate.Errorf(hookgate.EInvalid, "ingest: receipt id and received_at are required")
	}
	if r.Status != "" && r.Status != hookgate.StatusReceived {
		return nil, hookgate.Errorf(hookgate.EInvalid, "ingest leased: status %q is not received", r.Status)
	}
	op := newInsertOp(r, hookgate.StatusReceived)
	op.leaseOwner, op.leaseUntil = owner, micros(until)
	if r.IdempotencyKey != "" {
		op.keyExpires = micros(r.ReceivedAt.Add(ttl))
	}
	if err := db.submit(ctx, &writeReq{ins: op, done: make(chan struct{}, 1)}); err != nil {
		return nil, fmt.Errorf("ingest receipt %s: %w", r.ID, err)
	}
	tr := op.stored()
	if op.status != hookgate.StatusReceived {
		return []hookgate.Transition{tr}, nil
	}
	r.Status = hookgate.StatusDispatched
	leased := hookgate.Transition{ReceiptID: r.ID, Connection: r.Connection, From: hookgate.StatusReceived,
		Status: hookgate.StatusDispatched, At: tr.At}
	r.History = append(r.History, leased)
	return []hookgate.Transition{tr, leased}, nil
}

// leaseInserted leases the jobs of the inserted ops that asked for a lease
// (IngestLeased) and did not turn out duplicates, with their claim's history
// line, in the ingest's transaction.
func (db *DB) leaseInserted(ctx context.Context, tx *sql.Tx, ops []*insertOp) error {
	for _, op := range ops {
		if op.leaseOwner == "" || op.status != hookgate.StatusReceived {
			continue
		}
		line := historyLine(hookgate.Transition{From: hookgate.StatusReceived, Status: hookgate.StatusDispatched, At: fromMicros(op.at)})
		if _, err := tx.ExecContext(ctx, db.d.q(`UPDATE receipts SET lease_owner = ?, lease_until = ?,
			history = history || ? WHERE seq = ?`), op.leaseOwner, op.leaseUntil, line, op.seq); err != nil {
			return fmt.Errorf("lease receipt %s: %w", op.r.ID, err)
		}
	}
	return nil
}

// leased reports whether an insert asks for its job to be leased.
func leased(reqs []*writeReq) bool {
	for _, r := range reqs {
		if r.ins != nil && r.ins.leaseOwner != "" {
			return true
		}
	}
	return false
}

// insertReplies keeps the replies of the attempts of the completions that
// were written (completeAll set their transition's connection).
func (db *DB) insertReplies(ctx context.Context, tx *sql.Tx, ops []*completeOp) error {
	for _, op := range ops {
		if op.tr.Connection == "" {
			continue
		}
		for _, a := range op.c.Attempts {
			if a.Reply == nil || (len(a.Reply.Body) == 0 && a.Reply.ContentType == "") {
				continue
			}
			if _, err := tx.ExecContext(ctx, db.d.q(insertReply), a.Handler, a.Number, a.Reply.ContentType,
				bodyArg(a.Reply.Body), a.ReplyTruncated, op.c.ReceiptID); err != nil {
				return fmt.Errorf("keep reply of %s to %s: %w", a.Handler, op.c.ReceiptID, err)
			}
		}
	}
	return nil
}

// insertReply keeps one reply; the receipt's seq and round come from its
// row (the round the completion was recorded in).
const insertReply = `INSERT INTO replies (seq, round, handler, number, content_type, body, truncated)
	SELECT seq, round, ?, ?, ?, ?, ? FROM receipts WHERE id = ?
	ON CONFLICT (seq, round, handler, number) DO UPDATE SET content_type = excluded.content_type,
		body = excluded.body, truncated = excluded.truncated`

// attachReplies sets the replies of attempts, read for the receipt seq.
func (db *DB) attachReplies(ctx context.Context, seq int64, attempts []hookgate.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	rows, err := db.read.QueryContext(ctx, db.d.q(`SELECT round, handler, number, content_type, body, truncated
		FROM replies WHERE seq = ?`), seq)
	if err != nil {
		return fmt.Errorf("read replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			round, number int
			handler, ct   string
			body          []byte
			truncated     bool
		)
		if err := rows.Scan(&round, &handler, &number, &ct, &body, &truncated); err != nil {
			return fmt.Errorf("read replies: %w", err)
		}
		for i := range attempts {
			a := &attempts[i]
			if a.Round == round && a.Handler == handler && a.Number == number {
				a.Reply = &hookgate.Reply{StatusCode: a.StatusCode, ContentType: ct, Body: body}
				a.ReplyTruncated = truncated
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read replies: %w", err)
	}
	return nil
}

// JobResult implements hookgate.Store. The lookup is the receipt's primary
// key with the connection in the same condition, so a receipt of another
// connection is not read at all: the same work as a missing one.
func (db *DB) JobResult(ctx context.Context, id string, connections []string) (*hookgate.Receipt, error) {
	notFound := &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + id + " not found"}
	if len(connections) == 0 {
		return nil, notFound
	}
	cond, args := db.in("connection", connections)
	var attempts string
	r, seq, err := scanReceipt(db.read.QueryRowContext(ctx, db.d.q(`SELECT `+summaryColumns+`, attempts
		FROM receipts WHERE id = ? AND `+cond), append([]any{id}, args...)...), &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("read receipt %s: %w", id, err)
	}
	if r.Attempts, err = decodeAttempts(attempts, id); err != nil {
		return nil, err
	}
	if err := db.attachReplies(ctx, seq, r.Attempts); err != nil {
		return nil, fmt.Errorf("receipt %s: %w", id, err)
	}
	return r, nil
}
