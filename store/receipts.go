package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// summaryColumns are the receipt columns of a listing; fullColumns add the
// headers and body.
const (
	summaryColumns = "id, connection_type, connection, event_type, nonce, idempotency_key, status, reason, " +
		"duplicate_of, received_at, updated_at, secret_id, trace, attempt_count, round, next_attempt_at"
	fullColumns = summaryColumns + ", headers, body"
)

const insertReceipt = `INSERT INTO receipts (id, connection_type, connection, event_type, nonce, idempotency_key,
	status, reason, duplicate_of, received_at, updated_at, headers, body, secret_id, trace, attempt_count, round,
	next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// claimKey takes an idempotency key for a receipt, or takes over one that has
// expired, and answers the receipt it now points to. No row back means the key
// is held by an earlier receipt within its TTL. The unique key decides, so two
// concurrent deliveries of one key cannot both pass (on PostgreSQL the second
// INSERT waits for the first transaction, then sees the conflict).
const claimKey = `INSERT INTO idempotency_keys (key, receipt_id, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (key) DO UPDATE SET receipt_id = excluded.receipt_id, expires_at = excluded.expires_at
	WHERE idempotency_keys.expires_at <= ?
	RETURNING receipt_id`

const insertHistory = `INSERT INTO history (receipt_id, from_status, status, reason, at) VALUES (?, ?, ?, ?, ?)`

// ingestFresh is Ingest's common case on PostgreSQL in one round trip
// instead of three: claim the idempotency key, insert the receipt only if
// the key was claimed, and its first transition. One affected row (the
// history insert) means stored; none means the key is held by an earlier
// receipt, and Ingest takes the duplicate path. Data-modifying CTEs see one
// snapshot, which is all this needs: each step reads only the RETURNING of
// the one before. The arguments are those of insertReceipt's columns,
// followed by the key's expiry.
const ingestFresh = `WITH k AS (
	INSERT INTO idempotency_keys (key, receipt_id, expires_at) VALUES ($6, $1, $19)
	ON CONFLICT (key) DO UPDATE SET receipt_id = excluded.receipt_id, expires_at = excluded.expires_at
	WHERE idempotency_keys.expires_at <= $10
	RETURNING receipt_id
), r AS (
	INSERT INTO receipts (id, connection_type, connection, event_type, nonce, idempotency_key,
		status, reason, duplicate_of, received_at, updated_at, headers, body, secret_id, trace, attempt_count,
		round, next_attempt_at)
	SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
		$10::bigint, $11::bigint, $12::text, $13::bytea, $14::text, $15::bytea, $16::integer, $17::integer,
		$18::bigint FROM k
	RETURNING id
)
INSERT INTO history (receipt_id, from_status, status, reason, at) SELECT id, '', $7::text, $8::text, $10::bigint FROM r`

// Ingest implements hookgate.Store.
func (db *DB) Ingest(ctx context.Context, r *hookgate.Receipt, ttl time.Duration) (hookgate.Transition, error) {
	if r.ID == "" || r.ReceivedAt.IsZero() {
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "ingest: receipt id and received_at are required")
	}
	status := r.Status
	switch status {
	case "":
		status = hookgate.StatusReceived
	case hookgate.StatusReceived, hookgate.StatusFiltered, hookgate.StatusHeld:
	default:
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "ingest: status %q is not received, filtered or held", status)
	}
	headers, err := json.Marshal(r.Headers)
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("ingest: headers: %w", err)
	}
	// The receipt and its transition carry the stored precision from here on.
	now := micros(r.ReceivedAt)
	r.ReceivedAt = fromMicros(now)
	var duplicateOf string
	requested := status
	err = db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// A group commit may run this again after another write failed.
		status, duplicateOf = requested, ""
		if db.d.dollar && r.IdempotencyKey != "" {
			var next any
			if status == hookgate.StatusReceived {
				next = now
			}
			res, err := tx.ExecContext(ctx, ingestFresh,
				r.ID, r.ConnectionType, r.Connection, r.EventType, r.Nonce, r.IdempotencyKey,
				string(status), r.Reason, nil, now, now, string(headers), bodyArg(r.Body),
				r.SecretID, bodyArg(r.Trace), 0, r.Round, next, micros(r.ReceivedAt.Add(ttl)))
			if err != nil {
				return fmt.Errorf("insert receipt: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 1 {
				return err
			}
			// The key is held: store a duplicate below.
		}
		if r.IdempotencyKey != "" {
			var owner string
			err := db.queryRow(ctx, tx, claimKey,
				r.IdempotencyKey, r.ID, micros(r.ReceivedAt.Add(ttl)), now).Scan(&owner)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if err := tx.QueryRowContext(ctx, db.d.q(`SELECT receipt_id FROM idempotency_keys WHERE key = ?`),
					r.IdempotencyKey).Scan(&duplicateOf); err != nil {
					return fmt.Errorf("read idempotency key: %w", err)
				}
				status = hookgate.StatusDuplicate
			case err != nil:
				return fmt.Errorf("idempotency key: %w", err)
			}
		}
		var next any
		if status == hookgate.StatusReceived {
			next = now
		}
		if _, err := db.exec(ctx, tx, insertReceipt,
			r.ID, r.ConnectionType, r.Connection, r.EventType, r.Nonce, r.IdempotencyKey,
			string(status), r.Reason, nullString(duplicateOf), now, now, string(headers), bodyArg(r.Body),
			r.SecretID, bodyArg(r.Trace), 0, r.Round, next); err != nil {
			return fmt.Errorf("insert receipt: %w", err)
		}
		if _, err := db.exec(ctx, tx, insertHistory, r.ID, "", string(status), r.Reason, now); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		return nil
	})
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("ingest receipt %s: %w", r.ID, err)
	}
	r.Status, r.DuplicateOf, r.UpdatedAt, r.AttemptCount = status, duplicateOf, r.ReceivedAt, 0
	r.NextAttemptAt = nil
	if status == hookgate.StatusReceived {
		at := r.ReceivedAt
		r.NextAttemptAt = &at
	}
	tr := hookgate.Transition{ReceiptID: r.ID, Connection: r.Connection, Status: status, Reason: r.Reason, At: r.ReceivedAt}
	r.History = []hookgate.Transition{tr}
	return tr, nil
}

// Record implements hookgate.Store.
func (db *DB) Record(ctx context.Context, r *hookgate.Receipt) (hookgate.Transition, error) {
	if r.ID == "" || r.ReceivedAt.IsZero() {
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "record: receipt id and received_at are required")
	}
	if r.Status != hookgate.StatusRejected && r.Status != hookgate.StatusHandshake {
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "record: status %q is not rejected or handshake", r.Status)
	}
	headers, err := json.Marshal(r.Headers)
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("record: headers: %w", err)
	}
	now := micros(r.ReceivedAt)
	r.ReceivedAt = fromMicros(now)
	err = db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, insertReceipt,
			r.ID, r.ConnectionType, r.Connection, r.EventType, r.Nonce, r.IdempotencyKey,
			string(r.Status), r.Reason, nil, now, now, string(headers), bodyArg(r.Body),
			r.SecretID, bodyArg(r.Trace), 0, r.Round, nil); err != nil {
			return fmt.Errorf("insert receipt: %w", err)
		}
		if _, err := db.exec(ctx, tx, insertHistory, r.ID, "", string(r.Status), r.Reason, now); err != nil {
			return fmt.Errorf("insert history: %w", err)
		}
		return nil
	})
	if err != nil {
		return hookgate.Transition{}, fmt.Errorf("record receipt %s: %w", r.ID, err)
	}
	r.UpdatedAt, r.NextAttemptAt, r.DuplicateOf = r.ReceivedAt, nil, ""
	tr := hookgate.Transition{ReceiptID: r.ID, Connection: r.Connection, Status: r.Status, Reason: r.Reason, At: r.ReceivedAt}
	r.History = []hookgate.Transition{tr}
	return tr, nil
}

// Receipt implements hookgate.Store.
func (db *DB) Receipt(ctx context.Context, id string) (*hookgate.Receipt, error) {
	row := db.read.QueryRowContext(ctx, db.d.q(`SELECT `+fullColumns+` FROM receipts WHERE id = ?`), id)
	r, err := scanReceipt(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + id + " not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("read receipt %s: %w", id, err)
	}
	if r.Attempts, err = db.attempts(ctx, db.read, id); err != nil {
		return nil, err
	}
	if r.History, err = db.history(ctx, id, r.Connection); err != nil {
		return nil, err
	}
	return r, nil
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const attemptColumns = "receipt_id, round, handler, number, started_at, finished_at, outcome, status_code, error"

func (db *DB) attempts(ctx context.Context, q queryer, id string) ([]hookgate.Attempt, error) {
	rows, err := q.QueryContext(ctx, db.d.q(`SELECT `+attemptColumns+` FROM attempts WHERE receipt_id = ?
		ORDER BY round, started_at, number, id`), id)
	if err != nil {
		return nil, fmt.Errorf("read attempts of %s: %w", id, err)
	}
	defer rows.Close()
	var out []hookgate.Attempt
	for rows.Next() {
		_, a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("read attempts of %s: %w", id, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts of %s: %w", id, err)
	}
	return out, nil
}

func scanAttempt(rows *sql.Rows) (string, hookgate.Attempt, error) {
	var (
		a                 hookgate.Attempt
		id                string
		outcome           string
		started, finished int64
	)
	err := rows.Scan(&id, &a.Round, &a.Handler, &a.Number, &started, &finished, &outcome, &a.StatusCode, &a.Error)
	a.StartedAt, a.FinishedAt, a.Outcome = fromMicros(started), fromMicros(finished), hookgate.Outcome(outcome)
	return id, a, err
}

func (db *DB) history(ctx context.Context, id, connection string) ([]hookgate.Transition, error) {
	rows, err := db.read.QueryContext(ctx, db.d.q(`SELECT from_status, status, reason, at FROM history
		WHERE receipt_id = ? ORDER BY id`), id)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", id, err)
	}
	defer rows.Close()
	var out []hookgate.Transition
	for rows.Next() {
		var (
			from, status string
			at           int64
		)
		t := hookgate.Transition{ReceiptID: id, Connection: connection}
		if err := rows.Scan(&from, &status, &t.Reason, &at); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", id, err)
		}
		t.From, t.Status, t.At = hookgate.Status(from), hookgate.Status(status), fromMicros(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history of %s: %w", id, err)
	}
	return out, nil
}

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// Receipts implements hookgate.Store. Since is inclusive, Until exclusive.
// The cursor is opaque to callers: base64 of the last row's received_at and id.
func (db *DB) Receipts(ctx context.Context, f hookgate.ReceiptFilter) ([]*hookgate.Receipt, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var (
		where []string
		args  []any
	)
	if f.Connection != "" {
		where, args = append(where, "connection = ?"), append(args, f.Connection)
	}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, "", hookgate.Errorf(hookgate.EInvalid, "unknown status %q", f.Status)
		}
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.EventType != "" {
		where, args = append(where, "event_type = ?"), append(args, f.EventType)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received_at >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "received_at < ?"), append(args, micros(f.Until))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(received_at < ? OR (received_at = ? AND id < ?))")
		args = append(args, at, at, id)
	}
	query := `SELECT ` + summaryColumns + ` FROM receipts`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY received_at DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := db.read.QueryContext(ctx, db.d.q(query), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list receipts: %w", err)
	}
	defer rows.Close()
	out := make([]*hookgate.Receipt, 0, min(limit+1, 64))
	for rows.Next() {
		r, err := scanReceipt(rows, false)
		if err != nil {
			return nil, "", fmt.Errorf("list receipts: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list receipts: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(micros(last.ReceivedAt), last.ID)
	}
	return out, next, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "|" + id))
}

func decodeCursor(s string) (int64, string, error) {
	bad := hookgate.Errorf(hookgate.EInvalid, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", bad
	}
	at, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" {
		return 0, "", bad
	}
	v, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return 0, "", bad
	}
	return v, id, nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanReceipt reads summaryColumns, and with full also headers and body.
func scanReceipt(row rowScanner, full bool, extra ...any) (*hookgate.Receipt, error) {
	var (
		r                     hookgate.Receipt
		status                string
		duplicateOf           sql.NullString
		receivedAt, updatedAt int64
		next                  sql.NullInt64
		headers               string
		dest                  = make([]any, 0, 18)
	)
	dest = append(dest, &r.ID, &r.ConnectionType, &r.Connection, &r.EventType, &r.Nonce, &r.IdempotencyKey,
		&status, &r.Reason, &duplicateOf, &receivedAt, &updatedAt, &r.SecretID, &r.Trace, &r.AttemptCount,
		&r.Round, &next)
	if full {
		dest = append(dest, &headers, &r.Body)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.Status, r.DuplicateOf = hookgate.Status(status), duplicateOf.String
	r.ReceivedAt, r.UpdatedAt, r.NextAttemptAt = fromMicros(receivedAt), fromMicros(updatedAt), timePtr(next)
	if full {
		var h http.Header
		if err := json.Unmarshal([]byte(headers), &h); err != nil {
			return nil, fmt.Errorf("headers of %s: %w", r.ID, err)
		}
		r.Headers = h
	}
	return &r, nil
}

// bodyArg passes raw bytes as a blob; nil stays NULL.
func bodyArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
