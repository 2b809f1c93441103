package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// claimOp is one Claim: lease up to limit due jobs to owner.
type claimOp struct {
	owner     string
	limit     int
	at, until int64
	out       []*hookgate.Receipt
	trs       []hookgate.Transition
	seqs      []int64 // of out, on SQLite, whose bodies Claim reads after the commit
}

// Claim implements hookgate.Store.
//
// One statement selects the due jobs and leases them: lease_owner and
// lease_until, and nothing indexed (see statusOf). A leased job stays where
// it is in the due index, so a claim steps over the jobs in flight (a few
// times Workers per instance) to reach the due ones; an expired lease makes
// the job due again, which is how a crashed worker's jobs are rescued. On
// PostgreSQL the selection locks rows with SKIP LOCKED, so concurrent
// claimers pass over each other's rows; on SQLite the IMMEDIATE transaction
// makes the claimer the only writer.
func (db *DB) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	if owner == "" {
		return nil, nil, hookgate.Errorf(hookgate.EInvalid, "claim: owner is required")
	}
	if limit <= 0 {
		return nil, nil, nil
	}
	op := &claimOp{owner: owner, limit: limit, at: micros(now), until: micros(now.Add(lease))}
	if err := db.submit(ctx, &writeReq{claim: op, done: make(chan struct{}, 1)}); err != nil {
		return nil, nil, fmt.Errorf("claim receipts: %w", err)
	}
	if len(op.seqs) > 0 {
		// Bodies never change once written: read them outside the write
		// lane, from the reader pool, once the claim committed.
		if err := db.claimBodies(ctx, op.out, op.seqs); err != nil {
			return nil, nil, fmt.Errorf("claim receipts: read bodies: %w", err)
		}
	}
	return op.out, op.trs, nil
}

// claimSQLite leases the due jobs and appends each one's transition to its
// history; the previous status is read back from the line it appended. The
// status column is not written: a leased receipt reads as dispatched (see
// statusOf). The time bound and the limit are scalar subqueries, not the
// parameters themselves: SQLite re-plans a statement whose plan looked at a
// bound value when that value changes (with LIMIT ?, on every run), and the
// re-plan cost more than the claim (SQLITE_STMTSTATUS_REPREPARE: 50 of 50
// runs before, 0 after).
var claimSQLite = `UPDATE OR FAIL receipts SET lease_owner = ?1, lease_until = ?2, updated_at = ?3,
	history = history || json_object('from', ` + statusOf("") + `, 'status', 'dispatched', 'at', ?3) || char(10)
	WHERE seq IN (SELECT seq FROM receipts d
		WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= (SELECT ?3) AND (lease_until IS NULL OR lease_until < ?3)
		AND ` + orderedHead("d") + `
		ORDER BY next_attempt_at, seq LIMIT (SELECT ?4))
	RETURNING ` + summaryColumns + `, attempts, history`

// claimBodiesSQLite reads the bodies of the claimed receipts (a JSON array
// of their seqs).
const claimBodiesSQLite = `SELECT seq, headers, body, encoding FROM bodies WHERE seq IN (SELECT value FROM json_each(?))`

// claimPostgres is Claim in one round trip: lock the due jobs (SKIP LOCKED),
// lease them with their transition, and answer them with their bodies and
// previous status. The lease and the history line are not indexed, so with
// room left in the page the update is HOT: the table's fillfactor (migration
// 00005) leaves room for the new versions of a page's receipts, which a claim
// takes together, oldest first.
var claimPostgres = `WITH due AS (
	SELECT id, ` + statusOf("") + ` AS status FROM receipts d
	WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
	AND ` + orderedHead("d") + `
	ORDER BY next_attempt_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE receipts r SET lease_owner = $1, lease_until = $2, updated_at = $3,
		history = r.history || json_build_object('from', due.status, 'status', 'dispatched'::text, 'at', $3::bigint)::text || E'\n'
	FROM due WHERE r.id = due.id
	RETURNING ` + prefixedSummary + `, r.attempts, r.history
)
SELECT u.*, b.headers, b.body, b.encoding FROM u JOIN bodies b ON b.seq = u.seq`

func (db *DB) claimOne(ctx context.Context, tx *sql.Tx, op *claimOp) error {
	op.out, op.trs = nil, nil
	var (
		rows *sql.Rows
		err  error
	)
	if db.d.dollar {
		rows, err = tx.QueryContext(ctx, claimPostgres, op.owner, op.until, op.at, op.limit)
	} else {
		rows, err = db.query(ctx, tx, claimSQLite, op.owner, op.until, op.at, op.limit)
	}
	if err != nil {
		return fmt.Errorf("lease receipts: %w", err)
	}
	bySeq := map[int64]*hookgate.Receipt{}
	var seqs []int64
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var (
				seq               int64
				attempts, history string
				headers           string
				body              []byte
				encoding          int
				r                 *hookgate.Receipt
				err               error
			)
			if db.d.dollar {
				r, seq, err = scanReceipt(rows, &attempts, &history, &headers, &body, &encoding)
				if err == nil {
					err = setContent(r, headers, body, encoding)
				}
			} else {
				r, seq, err = scanReceipt(rows, &attempts, &history)
			}
			if err != nil {
				return err
			}
			// The claim's own transition is the history's last line.
			tr, err := lastTransition(history, r.ID, r.Connection)
			if err != nil {
				return err
			}
			r.History = []hookgate.Transition{tr}
			if attempts != "" {
				// The dispatcher skips handlers that already succeeded in
				// this round; a first pass has none (a deferred receipt
				// may have some without an attempt counted).
				all, err := decodeAttempts(attempts, r.ID)
				if err != nil {
					return err
				}
				for _, a := range all {
					if a.Round == r.Round {
						r.Attempts = append(r.Attempts, a)
					}
				}
			}
			bySeq[seq] = r
			seqs = append(seqs, seq)
		}
		return rows.Err()
	}()
	if err != nil {
		return fmt.Errorf("lease receipts: %w", err)
	}
	if len(seqs) == 0 {
		return nil
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		r := bySeq[seq]
		op.trs = append(op.trs, r.History[0])
		r.History = nil // Claim answers the receipt, not its past
		op.out = append(op.out, r)
	}
	if !db.d.dollar {
		op.seqs = seqs
	}
	return nil
}

// claimBodies sets the headers and bodies of rs (whose seqs are seqs, in the
// same order), read from the reader pool.
func (db *DB) claimBodies(ctx context.Context, rs []*hookgate.Receipt, seqs []int64) error {
	bySeq := make(map[int64]*hookgate.Receipt, len(rs))
	for i, r := range rs {
		bySeq[seqs[i]] = r
	}
	rows, err := db.read.QueryContext(ctx, claimBodiesSQLite, int64List(seqs))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq      int64
			headers  string
			body     []byte
			encoding int
		)
		if err := rows.Scan(&seq, &headers, &body, &encoding); err != nil {
			return err
		}
		if r := bySeq[seq]; r != nil {
			if err := setContent(r, headers, body, encoding); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// completeOp is one Complete: the outcome of a claimed job.
type completeOp struct {
	req   *writeReq
	owner string
	c     hookgate.Completion
	at    int64
	// history is the line appended to the receipt's history, attempts the
	// tail of its pass line (nil without attempts), see passTail.
	history  string
	attempts any
	tr       hookgate.Transition
}

// Complete implements hookgate.Store. A caller that no longer holds the lease
// gets EConflict: the job was taken over after the lease expired, and the new
// owner's outcome must not be overwritten.
func (db *DB) Complete(ctx context.Context, owner string, c hookgate.Completion) ([]hookgate.Transition, error) {
	switch {
	case c.Deferred:
		if (c.Status != hookgate.StatusReceived && c.Status != hookgate.StatusFailed) || c.NextAttemptAt == nil {
			return nil, hookgate.Errorf(hookgate.EInvalid, "complete %s: a deferred receipt returns to received or failed, with a next attempt time", c.ReceiptID)
		}
	case c.Status == hookgate.StatusAcknowledged, c.Status == hookgate.StatusDead, c.Status == hookgate.StatusFiltered,
		c.Status == hookgate.StatusHeld:
	case c.Status == hookgate.StatusFailed:
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
	op := &completeOp{owner: owner, c: c, at: micros(when)}
	// A leased receipt is always in status dispatched (Claim sets it, and
	// nothing else changes a leased receipt): the transition's previous
	// status.
	op.tr = hookgate.Transition{ReceiptID: c.ReceiptID, From: hookgate.StatusDispatched, Status: c.Status,
		Reason: c.Reason, At: fromMicros(op.at)}
	op.history = historyLine(op.tr)
	if c.Status == hookgate.StatusFailed {
		op.tr.NextAttemptAt = c.NextAttemptAt
	}
	op.attempts = passTail(c.Attempts)
	if err := db.submit(ctx, &writeReq{complete: op, done: make(chan struct{}, 1)}); err != nil {
		return nil, fmt.Errorf("complete receipt %s: %w", c.ReceiptID, err)
	}
	return []hookgate.Transition{op.tr}, nil
}

// completeSQLite records a chunk of n outcomes in one statement, each only
// if its owner still holds the lease, and answers the receipts it changed.
// The values of outcome i are column1 … column9 of row i: id, owner, status,
// reason, next attempt, time, history line, attempts pass, and 1 to count an
// attempt (0 for a deferred receipt).
func completeSQLite(n int) string {
	return `UPDATE OR FAIL receipts SET status = v.column3, reason = v.column4,
	attempt_count = attempt_count + v.column9, next_attempt_at = v.column5, lease_owner = NULL, lease_until = NULL,
	updated_at = v.column6, history = history || v.column7,
	attempts = attempts || COALESCE('{"round":' || round || v.column8, '')
	FROM (VALUES ` + repeatJoin("(?, ?, ?, ?, ?, ?, ?, ?, ?)", n) + `) AS v
	WHERE receipts.id = v.column1 AND receipts.lease_owner = v.column2
	RETURNING receipts.id, receipts.connection`
}

// completePostgres records a batch of outcomes from arrays, each only where
// its owner still holds the lease, and answers the receipts it changed.
const completePostgres = `UPDATE receipts r SET status = v.status, reason = v.reason,
	attempt_count = r.attempt_count + v.counted, next_attempt_at = v.next, lease_owner = NULL, lease_until = NULL,
	updated_at = v.at, history = r.history || v.history,
	attempts = r.attempts || COALESCE('{"round":' || r.round || v.attempts, '')
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::int[])
		AS v (id, owner, status, reason, next, at, history, attempts, counted)
	WHERE r.id = v.id AND r.lease_owner = v.owner
	RETURNING r.id, r.connection`

// completeAll records ops. Each op whose lease is gone gets a refusal
// (EConflict, or ENotFound for a receipt that does not exist); the others
// are written. The same receipt twice in one batch (its old owner and its
// new one) is written in two rounds, so each meets the row as it is then.
func (db *DB) completeAll(ctx context.Context, tx *sql.Tx, ops []*completeOp) error {
	for _, op := range ops {
		op.tr.Connection = ""
	}
	err := inRounds(ops, func(op *completeOp) string { return op.c.ReceiptID }, func(round []*completeOp) error {
		return db.completeRound(ctx, tx, round)
	})
	if err != nil {
		return err
	}
	var lost []*completeOp
	for _, op := range ops {
		if op.tr.Connection == "" {
			lost = append(lost, op)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	// Nothing was written for these: tell a lost lease from a missing receipt.
	for _, op := range lost {
		var one int
		err := tx.QueryRowContext(ctx, db.d.q(`SELECT 1 FROM receipts WHERE id = ?`), op.c.ReceiptID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			op.req.err = &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + op.c.ReceiptID + " not found"}
		case err != nil:
			return fmt.Errorf("read receipt: %w", err)
		default:
			op.req.err = &hookgate.Error{Code: hookgate.EConflict,
				Message: "receipt " + op.c.ReceiptID + " is not leased to " + op.owner + "; another worker took it over"}
		}
	}
	return nil
}

func (db *DB) completeRound(ctx context.Context, tx *sql.Tx, ops []*completeOp) error {
	byID := make(map[string]*completeOp, len(ops))
	for _, op := range ops {
		byID[op.c.ReceiptID] = op
	}
	changed := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var id, connection string
			if err := rows.Scan(&id, &connection); err != nil {
				return err
			}
			if op := byID[id]; op != nil {
				op.tr.Connection = connection
			}
		}
		return rows.Err()
	}
	if !db.d.dollar {
		err := chunks(len(ops), func(lo, hi int) error {
			args := make([]any, 0, 9*(hi-lo))
			for _, op := range ops[lo:hi] {
				c := op.c
				args = append(args, c.ReceiptID, op.owner, string(c.Status), c.Reason, nullMicros(c.NextAttemptAt),
					op.at, op.history, op.attempts, counted(c))
			}
			rows, err := db.query(ctx, tx, completeSQLite(hi-lo), args...)
			if err != nil {
				return err
			}
			return changed(rows)
		})
		if err != nil {
			return fmt.Errorf("complete: %w", err)
		}
		return nil
	}
	n := len(ops)
	var (
		ids, owners, statuses, reasons = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		next                           = make([]*int64, n)
		at                             = make([]int64, n)
		history                        = make([]string, n)
		attempts                       = make([]*string, n)
		count                          = make([]int32, n)
	)
	for i, op := range ops {
		c := op.c
		ids[i], owners[i], statuses[i], reasons[i] = c.ReceiptID, op.owner, string(c.Status), c.Reason
		if c.NextAttemptAt != nil {
			v := micros(*c.NextAttemptAt)
			next[i] = &v
		}
		at[i], history[i] = op.at, op.history
		if a, ok := op.attempts.(string); ok {
			attempts[i] = &a
		}
		count[i] = int32(counted(c))
	}
	rows, err := tx.QueryContext(ctx, completePostgres, ids, owners, statuses, reasons, next, at, history, attempts, count)
	if err == nil {
		err = changed(rows)
	}
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	return nil
}

// Replay implements hookgate.Store. A receipt whose lease is held is in
// flight and refused (EConflict); replay it after the attempt completes.
func (db *DB) Replay(ctx context.Context, id string, now time.Time) (hookgate.Transition, error) {
	at := micros(now)
	var tr hookgate.Transition
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var (
			status, connection string
			leaseUntil         sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, db.d.q(`SELECT `+statusOf("")+`, connection, lease_until FROM receipts
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
		tr = hookgate.Transition{ReceiptID: id, Connection: connection, From: hookgate.Status(status),
			Status: hookgate.StatusReceived, Reason: "replay", At: fromMicros(at)}
		if _, err := tx.ExecContext(ctx, db.d.q(`UPDATE receipts SET status = ?, reason = '', round = round + 1,
			attempt_count = 0, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?,
			history = history || ? WHERE id = ?`), string(hookgate.StatusReceived), at, at, historyLine(tr), id); err != nil {
			return fmt.Errorf("update receipt: %w", err)
		}
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
// Keys have no index on their expiry (ingest would write it for every
// delivery): pruning walks them in key order, pruneBatch keys per write, so
// that a large table is pruned in many short transactions between ingests.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	var (
		total int64
		after string // keys are compared from the empty string up
		done  bool
	)
	for !done {
		var (
			n    int64
			next string
		)
		err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
			n, done, next = 0, false, after // the batch may run this again
			var last string
			err := tx.QueryRowContext(ctx, db.d.q(`SELECT key FROM idempotency_keys WHERE key > ?
				ORDER BY key LIMIT 1 OFFSET ?`), after, pruneBatch-1).Scan(&last)
			var res sql.Result
			switch {
			case errors.Is(err, sql.ErrNoRows): // the last chunk
				done = true
				res, err = tx.ExecContext(ctx, db.d.q(`DELETE FROM idempotency_keys WHERE key > ? AND expires_at <= ?`),
					after, micros(now))
			case err != nil:
				return err
			default:
				res, err = tx.ExecContext(ctx, db.d.q(`DELETE FROM idempotency_keys WHERE key > ? AND key <= ?
					AND expires_at <= ?`), after, last, micros(now))
				next = last
			}
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", err)
		}
		total, after = total+n, next
		if !done {
			if err := rest(ctx); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}
