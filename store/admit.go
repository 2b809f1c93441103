package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// Admit implements hookgate.Store: a rejected receipt that now verifies
// becomes a delivery like any other. It takes its idempotency key the way
// Ingest does (a key seen within ttl makes it a duplicate), and gets a job
// when r.Status is received.
func (db *DB) Admit(ctx context.Context, r *hookgate.Receipt, now time.Time, ttl time.Duration) (hookgate.Transition, error) {
	status := r.Status
	switch status {
	case hookgate.StatusReceived, hookgate.StatusFiltered, hookgate.StatusHeld:
	default:
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "admit: status %q is not received, filtered or held", status)
	}
	at := micros(now)
	var tr hookgate.Transition
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			current, connection string
			hasBody             bool
		)
		err := tx.QueryRowContext(ctx, db.d.q(`SELECT status, connection, body IS NOT NULL FROM receipts
			WHERE id = ?`+db.d.lockRows), r.ID).Scan(&current, &connection, &hasBody)
		if errors.Is(err, sql.ErrNoRows) {
			return &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + r.ID + " not found"}
		}
		if err != nil {
			return fmt.Errorf("read receipt: %w", err)
		}
		if hookgate.Status(current) != hookgate.StatusRejected {
			return hookgate.Errorf(hookgate.EConflict, "only rejected receipts can be admitted; this one is %s", current)
		}
		if !hasBody {
			return hookgate.Errorf(hookgate.EConflict, "the body of this rejected receipt was not kept (size or the connection's budget); the sender must deliver it again")
		}
		var owner string
		err = tx.QueryRowContext(ctx, db.d.q(claimKey), r.IdempotencyKey, r.ID, at+ttl.Microseconds(), at).Scan(&owner)
		var duplicateOf any
		var next any = at
		reason := "admitted"
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if err := tx.QueryRowContext(ctx, db.d.q(`SELECT receipt_id FROM idempotency_keys WHERE key = ?`),
				r.IdempotencyKey).Scan(&owner); err != nil {
				return fmt.Errorf("read idempotency key: %w", err)
			}
			status, duplicateOf, next = hookgate.StatusDuplicate, owner, nil
			r.DuplicateOf = owner
		case err != nil:
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if status != hookgate.StatusReceived {
			next = nil
		}
		if _, err := tx.ExecContext(ctx, db.d.q(`UPDATE receipts SET status = ?, reason = '', duplicate_of = ?,
			event_type = ?, nonce = ?, idempotency_key = ?, secret_id = ?, attempt_count = 0,
			next_attempt_at = ?, updated_at = ? WHERE id = ?`),
			string(status), duplicateOf, r.EventType, r.Nonce, r.IdempotencyKey, r.SecretID, next, at, r.ID); err != nil {
			return fmt.Errorf("update receipt: %w", err)
		}
		if _, err := tx.ExecContext(ctx, db.d.q(insertHistory), r.ID, current, string(status), reason, at); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		r.Status = status
		tr = hookgate.Transition{ReceiptID: r.ID, Connection: connection, From: hookgate.StatusRejected,
			Status: status, Reason: reason, At: fromMicros(at)}
		return nil
	})
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("admit receipt %s: %w", r.ID, err)
	}
	return tr, nil
}

// PruneRejectedBodies implements hookgate.Store: the newest rejected bodies
// of a connection are kept up to budget bytes in all; older ones are dropped
// (the receipt, its reason and trace stay).
func (db *DB) PruneRejectedBodies(ctx context.Context, connection string, budget int64) (int64, error) {
	res, err := db.write.ExecContext(ctx, db.d.q(`UPDATE receipts SET body = NULL WHERE id IN (
		SELECT id FROM (
			SELECT id, SUM(LENGTH(body)) OVER (ORDER BY received_at DESC, id DESC) AS kept
			FROM receipts WHERE connection = ? AND status = ? AND body IS NOT NULL
		) newest WHERE kept > ?)`), connection, string(hookgate.StatusRejected), budget)
	if err != nil {
		return 0, fmt.Errorf("prune rejected bodies of %s: %w", connection, err)
	}
	return res.RowsAffected()
}
