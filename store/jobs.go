package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// Claim implements hookgate.Store.
//
// The due rows are selected and locked first, then leased, in one
// transaction: on PostgreSQL the SELECT takes row locks with SKIP LOCKED, so
// concurrent claimers pass over each other's rows and re-check a row's lease
// after waiting for nothing; on SQLite the IMMEDIATE transaction makes the
// claimer the only writer. Selecting first also yields each receipt's
// previous status for its history row.
func (db *DB) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	if owner == "" {
		return nil, nil, hookgate.Errorf(hookgate.EInvalid, "claim: owner is required")
	}
	if limit <= 0 {
		return nil, nil, nil
	}
	at := micros(now)
	var (
		out []*hookgate.Receipt
		trs []hookgate.Transition
	)
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out, trs = nil, nil
		if db.d.dollar {
			var err error
			out, trs, err = claimPostgres(ctx, tx, owner, limit, at, micros(now.Add(lease)))
			return err
		}
		rows, err := tx.QueryContext(ctx, db.d.q(`SELECT id, status FROM receipts
			WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY next_attempt_at, id LIMIT ?`+db.d.skipLocked), at, at, limit)
		if err != nil {
			return fmt.Errorf("select due receipts: %w", err)
		}
		var (
			ids  []any
			prev = map[string]hookgate.Status{}
		)
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				rows.Close()
				return fmt.Errorf("select due receipts: %w", err)
			}
			ids = append(ids, id)
			prev[id] = hookgate.Status(status)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select due receipts: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}

		// next_attempt_at moves to the lease's end: that is when the job is
		// attempted again if this owner dies, and it keeps leased rows out of
		// the front of the due index, so a claim reads only due rows instead
		// of stepping over every job in flight.
		until := micros(now.Add(lease))
		args := append([]any{string(hookgate.StatusDispatched), owner, until, until, at}, ids...)
		rows, err = tx.QueryContext(ctx, db.d.q(`UPDATE receipts
			SET status = ?, lease_owner = ?, lease_until = ?, next_attempt_at = ?, updated_at = ?
			WHERE id IN (`+placeholders(len(ids))+`) RETURNING `+fullColumns), args...)
		if err != nil {
			return fmt.Errorf("lease receipts: %w", err)
		}
		byID := make(map[string]*hookgate.Receipt, len(ids))
		for rows.Next() {
			r, err := scanReceipt(rows, true)
			if err != nil {
				rows.Close()
				return fmt.Errorf("lease receipts: %w", err)
			}
			byID[r.ID] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lease receipts: %w", err)
		}

		if err := loadRoundAttempts(ctx, tx, db.d, byID); err != nil {
			return err
		}

		// One statement writes every transition of the claim (a JSON array
		// of [id, previous status] pairs), not one insert per receipt.
		pairs := make([][2]string, 0, len(ids))
		for _, v := range ids {
			id := v.(string)
			r := byID[id]
			if r == nil {
				return fmt.Errorf("lease receipts: %s vanished", id)
			}
			tr := hookgate.Transition{ReceiptID: id, Connection: r.Connection, From: prev[id],
				Status: hookgate.StatusDispatched, At: r.UpdatedAt}
			pairs = append(pairs, [2]string{id, string(tr.From)})
			out, trs = append(out, r), append(trs, tr)
		}
		list, err := json.Marshal(pairs)
		if err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		if _, err := db.exec(ctx, tx, insertClaimHistory, string(hookgate.StatusDispatched), at, string(list)); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("claim receipts: %w", err)
	}
	return out, trs, nil
}

// loadRoundAttempts reads the attempts of the current round of the claimed
// receipts: the dispatcher skips handlers that already succeeded in it. A
// receipt on its first pass of the round (attempt_count 0, the common case)
// has none to read.
func loadRoundAttempts(ctx context.Context, tx *sql.Tx, d dialect, byID map[string]*hookgate.Receipt) error {
	var retried []any
	for _, r := range byID {
		if r.AttemptCount > 0 {
			retried = append(retried, r.ID)
		}
	}
	if len(retried) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, d.q(`SELECT `+prefixed("a.", attemptColumns)+` FROM attempts a
		JOIN receipts r ON r.id = a.receipt_id AND r.round = a.round
		WHERE a.receipt_id IN (`+placeholders(len(retried))+`)
		ORDER BY a.receipt_id, a.started_at, a.number, a.id`), retried...)
	if err != nil {
		return fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		id, a, err := scanAttempt(rows)
		if err != nil {
			return fmt.Errorf("read attempts: %w", err)
		}
		if r := byID[id]; r != nil {
			r.Attempts = append(r.Attempts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read attempts: %w", err)
	}
	return nil
}

// claimInOne is Claim on PostgreSQL in one round trip: lock the due jobs
// (SKIP LOCKED: concurrent claimers pass over each other), lease them, and
// write each one's transition, answering the leased rows with their previous
// status. Arguments: dispatched status, owner, lease end, now, limit.
var claimInOne = `WITH due AS (
	SELECT id, status FROM receipts
	WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $4 AND (lease_until IS NULL OR lease_until < $4)
	ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE receipts r SET status = $1, lease_owner = $2, lease_until = $3, next_attempt_at = $3, updated_at = $4
	FROM due WHERE r.id = due.id
	RETURNING ` + prefixed("r.", fullColumns) + `, due.status AS prev
), h AS (
	INSERT INTO history (receipt_id, from_status, status, reason, at) SELECT id, prev, $1, '', $4 FROM u
)
SELECT * FROM u ORDER BY id`

// claimPostgres runs claimInOne; see Claim.
func claimPostgres(ctx context.Context, tx *sql.Tx, owner string, limit int, at, until int64) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	rows, err := tx.QueryContext(ctx, claimInOne, string(hookgate.StatusDispatched), owner, until, at, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("lease receipts: %w", err)
	}
	var (
		out  []*hookgate.Receipt
		trs  []hookgate.Transition
		byID = map[string]*hookgate.Receipt{}
	)
	for rows.Next() {
		var prev string
		r, err := scanReceipt(rows, true, &prev)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("lease receipts: %w", err)
		}
		byID[r.ID] = r
		out = append(out, r)
		trs = append(trs, hookgate.Transition{ReceiptID: r.ID, Connection: r.Connection, From: hookgate.Status(prev),
			Status: hookgate.StatusDispatched, At: r.UpdatedAt})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("lease receipts: %w", err)
	}
	if err := loadRoundAttempts(ctx, tx, postgresDialect, byID); err != nil {
		return nil, nil, err
	}
	return out, trs, nil
}

// insertClaimHistory writes the transitions of a claim on SQLite in one
// statement: its last argument is a JSON array of [receipt id, previous
// status] pairs, inserted in array order.
const insertClaimHistory = `INSERT INTO history (receipt_id, from_status, status, reason, at)
	SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?, '', ? FROM json_each(?) ORDER BY key`

// Statements of Complete on SQLite (prepared, see batch.go). completeLeased
// records the outcome only if owner still holds the lease, and answers what
// the attempts need; a leased receipt is always in status dispatched (Claim
// sets it, and nothing else changes a leased receipt), which is therefore
// the transition's previous status.
const (
	insertAttempt = `INSERT INTO attempts (receipt_id, round, handler, number,
		started_at, finished_at, outcome, status_code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	completeLeased = `UPDATE receipts SET status = ?, reason = ?,
		attempt_count = attempt_count + 1, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL,
		updated_at = ? WHERE id = ? AND lease_owner = ? RETURNING connection, round`
)

// completeInOne is Complete on PostgreSQL in one round trip instead of
// three or more: record the attempts, the outcome and the transition only if
// the caller still holds the lease (the UPDATE's WHERE, re-checked on the
// latest row version under its lock), and answer the previous status, the
// connection and whether the lease held. cur reads the statement's snapshot,
// i.e. the row before u changes it (no FOR UPDATE: a row locked and updated
// by the same statement would be skipped). Arguments: id, status, reason,
// next_attempt_at, at, owner, then one array per attempt column.
const completeInOne = `WITH cur AS (
	SELECT status, connection, round FROM receipts WHERE id = $1
), u AS (
	UPDATE receipts SET status = $2, reason = $3, attempt_count = attempt_count + 1, next_attempt_at = $4,
		lease_owner = NULL, lease_until = NULL, updated_at = $5
	WHERE id = $1 AND lease_owner = $6 RETURNING id
), a AS (
	INSERT INTO attempts (receipt_id, round, handler, number, started_at, finished_at, outcome, status_code, error)
	SELECT $1, cur.round, x.handler, x.number, x.started_at, x.finished_at, x.outcome, x.status_code, x.error
	FROM cur, u, unnest($7::text[], $8::integer[], $9::bigint[], $10::bigint[], $11::text[], $12::integer[], $13::text[])
		AS x (handler, number, started_at, finished_at, outcome, status_code, error)
), h AS (
	INSERT INTO history (receipt_id, from_status, status, reason, at) SELECT $1, cur.status, $2, $3, $5 FROM cur, u
)
SELECT cur.status, cur.connection, EXISTS (SELECT 1 FROM u) FROM cur`

// completePostgres runs completeInOne; see Complete.
func completePostgres(ctx context.Context, tx *sql.Tx, owner string, c hookgate.Completion, at int64) (status, connection string, err error) {
	n := len(c.Attempts)
	var (
		handlers, outcomes, errs = make([]string, n), make([]string, n), make([]string, n)
		numbers, codes           = make([]int32, n), make([]int32, n)
		started, finished        = make([]int64, n), make([]int64, n)
	)
	for i, a := range c.Attempts {
		handlers[i], numbers[i], started[i], finished[i] = a.Handler, int32(a.Number), micros(a.StartedAt), micros(a.FinishedAt)
		outcomes[i], codes[i], errs[i] = string(a.Outcome), int32(a.StatusCode), a.Error
	}
	var held bool
	err = tx.QueryRowContext(ctx, completeInOne, c.ReceiptID, string(c.Status), c.Reason, nullMicros(c.NextAttemptAt), at, owner,
		handlers, numbers, started, finished, outcomes, codes, errs).Scan(&status, &connection, &held)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + c.ReceiptID + " not found"}
	}
	if err != nil {
		return "", "", fmt.Errorf("complete: %w", err)
	}
	if !held {
		return "", "", &hookgate.Error{Code: hookgate.EConflict,
			Message: "receipt " + c.ReceiptID + " is not leased to " + owner + "; another worker took it over"}
	}
	return status, connection, nil
}

// Complete implements hookgate.Store. A caller that no longer holds the lease
// gets EConflict: the job was taken over after the lease expired, and the new
// owner's outcome must not be overwritten.
func (db *DB) Complete(ctx context.Context, owner string, c hookgate.Completion) ([]hookgate.Transition, error) {
	switch c.Status {
	case hookgate.StatusAcknowledged, hookgate.StatusDead, hookgate.StatusFiltered, hookgate.StatusHeld:
	case hookgate.StatusFailed:
		if c.NextAttemptAt == nil {
			return nil, hookgate.Errorf(hookgate.EInvalid, "complete %s: failed without a next attempt time", c.ReceiptID)
		}
	default:
		return nil, hookgate.Errorf(hookgate.EInvalid, "complete %s: status %q is not a dispatch outcome", c.ReceiptID, c.Status)
	}
	when := c.At
	if when.IsZero() {
		when = time.Now()
	}
	at := micros(when)
	var tr hookgate.Transition
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if db.d.dollar {
			status, connection, err := completePostgres(ctx, tx, owner, c, at)
			if err != nil {
				return err
			}
			tr = hookgate.Transition{ReceiptID: c.ReceiptID, Connection: connection, From: hookgate.Status(status),
				Status: c.Status, Reason: c.Reason, At: fromMicros(at)}
			return nil
		}
		var (
			connection string
			round      int
		)
		err := db.queryRow(ctx, tx, completeLeased, string(c.Status), c.Reason, nullMicros(c.NextAttemptAt), at,
			c.ReceiptID, owner).Scan(&connection, &round)
		if errors.Is(err, sql.ErrNoRows) {
			// Nothing was written: tell a lost lease from a missing receipt.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM receipts WHERE id = ?`, c.ReceiptID).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + c.ReceiptID + " not found"}
			case err != nil:
				return fmt.Errorf("read receipt: %w", err)
			}
			return &hookgate.Error{Code: hookgate.EConflict,
				Message: "receipt " + c.ReceiptID + " is not leased to " + owner + "; another worker took it over"}
		}
		if err != nil {
			return fmt.Errorf("update receipt: %w", err)
		}
		for _, a := range c.Attempts {
			if _, err := db.exec(ctx, tx, insertAttempt,
				c.ReceiptID, round, a.Handler, a.Number, micros(a.StartedAt), micros(a.FinishedAt),
				string(a.Outcome), a.StatusCode, a.Error); err != nil {
				return fmt.Errorf("insert attempt: %w", err)
			}
		}
		status := string(hookgate.StatusDispatched)
		if _, err := db.exec(ctx, tx, insertHistory, c.ReceiptID, status, string(c.Status), c.Reason, at); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		tr = hookgate.Transition{ReceiptID: c.ReceiptID, Connection: connection, From: hookgate.Status(status),
			Status: c.Status, Reason: c.Reason, At: fromMicros(at)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete receipt %s: %w", c.ReceiptID, err)
	}
	return []hookgate.Transition{tr}, nil
}

// Replay implements hookgate.Store. A receipt whose lease is held is in
// flight and refused (EConflict); replay it after the attempt completes.
func (db *DB) Replay(ctx context.Context, id string, now time.Time) (hookgate.Transition, error) {
	at := micros(now)
	var tr hookgate.Transition
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status, connection string
			leaseUntil         sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, db.d.q(`SELECT status, connection, lease_until FROM receipts
			WHERE id = ?`+db.d.lockRows), id).Scan(&status, &connection, &leaseUntil)
		if errors.Is(err, sql.ErrNoRows) {
			return &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + id + " not found"}
		}
		if err != nil {
			return fmt.Errorf("read receipt: %w", err)
		}
		switch hookgate.Status(status) {
		case hookgate.StatusRejected, hookgate.StatusDuplicate, hookgate.StatusHandshake:
			return hookgate.Errorf(hookgate.EConflict, "a %s receipt cannot be replayed", status)
		}
		if leaseUntil.Valid && leaseUntil.Int64 >= at {
			return hookgate.Errorf(hookgate.EConflict, "receipt %s is in flight; replay it when the attempt completes", id)
		}
		if _, err := tx.ExecContext(ctx, db.d.q(`UPDATE receipts SET status = ?, reason = '', round = round + 1,
			attempt_count = 0, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
			WHERE id = ?`), string(hookgate.StatusReceived), at, at, id); err != nil {
			return fmt.Errorf("update receipt: %w", err)
		}
		if _, err := tx.ExecContext(ctx, db.d.q(insertHistory), id, status, string(hookgate.StatusReceived), "replay", at); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		tr = hookgate.Transition{ReceiptID: id, Connection: connection, From: hookgate.Status(status),
			Status: hookgate.StatusReceived, Reason: "replay", At: fromMicros(at)}
		return nil
	})
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("replay receipt %s: %w", id, err)
	}
	return tr, nil
}

// pruneBatch bounds each prune transaction, so that pruning a large backlog
// never holds SQLite's write lock long enough to delay ingest.
const pruneBatch = 1000

// PruneIdempotencyKeys implements hookgate.Store. A key whose expires_at is
// at or before now is expired (the same rule Ingest uses to take one over).
func (db *DB) PruneIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.write.ExecContext(ctx, db.d.q(`DELETE FROM idempotency_keys WHERE key IN
			(SELECT key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`), micros(now), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(p, columns string) string {
	out := make([]byte, 0, len(columns)+16*len(p))
	out = append(out, p...)
	for i := 0; i < len(columns); i++ {
		out = append(out, columns[i])
		if columns[i] == ' ' && i > 0 && columns[i-1] == ',' {
			out = append(out, p...)
		}
	}
	return string(out)
}
