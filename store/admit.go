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
	switch r.Status {
	case hookgate.StatusReceived, hookgate.StatusFiltered, hookgate.StatusHeld:
	default:
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "admit: status %q is not received, filtered or held", r.Status)
	}
	at := micros(now)
	key := &insertOp{r: r, requested: r.Status, at: at, keyExpires: micros(now.Add(ttl))}
	var tr hookgate.Transition
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		key.status, key.duplicateOf = key.requested, ""
		var (
			current, connection string
			hasBody             bool
		)
		err := tx.QueryRowContext(ctx, db.d.q(`SELECT `+statusOf("r.")+`, r.connection, b.body IS NOT NULL
			FROM receipts r LEFT JOIN bodies b ON b.seq = r.seq WHERE r.id = ?`+db.d.lockRowsOf("r")), r.ID).
			Scan(&current, &connection, &hasBody)
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
		if r.IdempotencyKey != "" {
			if err := db.takeKeys(ctx, tx, []*insertOp{key}); err != nil {
				return err
			}
		}
		var next any
		if key.status == hookgate.StatusReceived {
			next = at
		}
		tr = hookgate.Transition{ReceiptID: r.ID, Connection: connection, From: hookgate.StatusRejected,
			Status: key.status, Reason: "admitted", At: fromMicros(at)}
		if _, err := tx.ExecContext(ctx, db.d.q(`UPDATE receipts SET status = ?, reason = '', duplicate_of = ?,
			event_type = ?, nonce = ?, idempotency_key = ?, secret_id = ?, ordering_key = ?, attempt_count = 0,
			next_attempt_at = ?, updated_at = ?, history = history || ? WHERE id = ?`),
			string(key.status), nullString(key.duplicateOf), r.EventType, r.Nonce, r.IdempotencyKey, r.SecretID,
			nullString(r.OrderingKey), next, at, historyLine(tr), r.ID); err != nil {
			return fmt.Errorf("update receipt: %w", err)
		}
		return nil
	})
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("admit receipt %s: %w", r.ID, err)
	}
	r.Status, r.DuplicateOf = key.status, key.duplicateOf
	return tr, nil
}
