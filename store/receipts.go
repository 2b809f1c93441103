package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	hookgate "github.com/hookgate/hookgate"
)

// A receipt is two rows: receipts holds what is searched and what changes
// (status, job, lease, and the receipt's history and attempts), bodies holds
// what is written once and read only with the whole receipt (headers, body,
// trace). Keeping the bytes out of the row that every transition rewrites
// keeps claims and completions small, and listings never touch them.
//
// History and attempts are JSON lines appended to the receipt's row: they
// are only ever read with it, and the transition that adds one rewrites that
// row anyway, so a line costs no index and no extra row.

// A receipt is dispatched while it is leased. Claim writes only the lease and
// the transition's history line, not the status column: the column keeps the
// status the receipt had when it was claimed (received, or failed for a
// retry), and every read derives "dispatched" from the lease (statusOf). So a
// claim changes no indexed column — on SQLite it touches no index, on
// PostgreSQL it is a HOT update (a new row version in the same page, no new
// index entries) — and the status indexes never see a receipt in flight.

// statusOf is the status of a receipt as read, for the table alias a ("" for
// none).
func statusOf(a string) string {
	return "CASE WHEN " + a + "lease_owner IS NOT NULL THEN 'dispatched' ELSE " + a + "status END"
}

// summaryOf is the receipt columns of a listing, seq first, for the table
// alias a.
func summaryOf(a string) string {
	return a + "seq, " + a + "id, " + a + "connection_type, " + a + "connection, " + a + "event_type, " +
		a + "nonce, " + a + "idempotency_key, " + statusOf(a) + " AS status, " + a + "reason, " + a + "duplicate_of, " +
		a + "received_at, " + a + "updated_at, " + a + "secret_id, " + a + "attempt_count, " + a + "round, " +
		a + "next_attempt_at, " + a + "source"
}

// summaryColumns are the columns of a listing; prefixedSummary the same
// qualified by the alias r, for joins.
var (
	summaryColumns  = summaryOf("")
	prefixedSummary = summaryOf("r.")
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanReceipt reads summaryColumns, then extra, and returns the receipt and
// its seq.
func scanReceipt(row rowScanner, extra ...any) (*hookgate.Receipt, int64, error) {
	var (
		r                     hookgate.Receipt
		seq                   int64
		status                string
		duplicateOf           sql.NullString
		receivedAt, updatedAt int64
		next                  sql.NullInt64
		source                sql.NullString
	)
	dest := append(make([]any, 0, 17+len(extra)), &seq, &r.ID, &r.ConnectionType, &r.Connection, &r.EventType,
		&r.Nonce, &r.IdempotencyKey, &status, &r.Reason, &duplicateOf, &receivedAt, &updatedAt, &r.SecretID,
		&r.AttemptCount, &r.Round, &next, &source)
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, 0, err
	}
	r.Status, r.DuplicateOf, r.Source = hookgate.Status(status), duplicateOf.String, source.String
	r.ReceivedAt, r.UpdatedAt, r.NextAttemptAt = fromMicros(receivedAt), fromMicros(updatedAt), timePtr(next)
	return &r, seq, nil
}

// historyEntry is one line of a receipt's history column.
type historyEntry struct {
	From   hookgate.Status `json:"from,omitempty"`
	Status hookgate.Status `json:"status"`
	Reason string          `json:"reason,omitempty"`
	At     int64           `json:"at"`
}

// historyLine encodes one transition as a line of the history column.
func historyLine(tr hookgate.Transition) string {
	b, _ := json.Marshal(historyEntry{From: tr.From, Status: tr.Status, Reason: tr.Reason, At: micros(tr.At)})
	return string(append(b, '\n'))
}

func decodeHistory(lines, id, connection string) ([]hookgate.Transition, error) {
	out := make([]hookgate.Transition, 0, strings.Count(lines, "\n"))
	for line := range strings.SplitSeq(lines, "\n") {
		if line == "" {
			continue
		}
		var e historyEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		out = append(out, hookgate.Transition{ReceiptID: id, Connection: connection, From: e.From,
			Status: e.Status, Reason: e.Reason, At: fromMicros(e.At)})
	}
	return out, nil
}

// lastTransition decodes the last line of a history column.
func lastTransition(lines, id, connection string) (hookgate.Transition, error) {
	lines = strings.TrimSuffix(lines, "\n")
	if i := strings.LastIndexByte(lines, '\n'); i >= 0 {
		lines = lines[i+1:]
	}
	h, err := decodeHistory(lines, id, connection)
	if err != nil {
		return hookgate.Transition{}, err
	}
	if len(h) != 1 {
		return hookgate.Transition{}, fmt.Errorf("history of %s is empty", id)
	}
	return h[0], nil
}

// passLine is one line of a receipt's attempts column: the attempts of one
// dispatch of the receipt (one Complete), and the round they belong to. The
// store, not the caller, stamps the round: it is the receipt's round when the
// outcome is recorded (a replay is refused while a dispatch is in flight).
type passLine struct {
	Round    int            `json:"round"`
	Attempts []attemptEntry `json:"attempts"`
}

type attemptEntry struct {
	Handler    string           `json:"handler"`
	Number     int              `json:"number"`
	StartedAt  int64            `json:"started_at"`
	FinishedAt int64            `json:"finished_at"`
	Outcome    hookgate.Outcome `json:"outcome"`
	StatusCode int              `json:"status_code,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// passTail encodes the attempts of one dispatch for the attempts column, as
// the tail of a passLine after its round: `,"attempts":[…]}` and the line's
// newline. The store writes the round in front of it from the receipt's row
// ('{"round":' || round || tail), so the line needs no JSON parsing in SQL.
// nil when there are no attempts.
func passTail(as []hookgate.Attempt) any {
	if len(as) == 0 {
		return nil
	}
	entries := make([]attemptEntry, len(as))
	for i, a := range as {
		entries[i] = attemptEntry{Handler: a.Handler, Number: a.Number, StartedAt: micros(a.StartedAt),
			FinishedAt: micros(a.FinishedAt), Outcome: a.Outcome, StatusCode: a.StatusCode, Error: a.Error}
	}
	var b bytes.Buffer
	b.WriteString(`,"attempts":`)
	enc := json.NewEncoder(&b) // Encode ends the value with a newline
	enc.SetEscapeHTML(false)
	_ = enc.Encode(entries)
	line := b.Bytes()
	return string(line[:len(line)-1]) + "}\n"
}

func decodeAttempts(lines, id string) ([]hookgate.Attempt, error) {
	var out []hookgate.Attempt
	for line := range strings.SplitSeq(lines, "\n") {
		if line == "" {
			continue
		}
		var p passLine
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("attempts of %s: %w", id, err)
		}
		for _, e := range p.Attempts {
			out = append(out, hookgate.Attempt{Handler: e.Handler, Round: p.Round, Number: e.Number,
				StartedAt: fromMicros(e.StartedAt), FinishedAt: fromMicros(e.FinishedAt), Outcome: e.Outcome,
				StatusCode: e.StatusCode, Error: e.Error})
		}
	}
	return out, nil
}

// int64List is a JSON array of integers, for SQLite's json_each.
func int64List(v []int64) string {
	b := make([]byte, 0, 2+len(v)*8)
	b = append(b, '[')
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(append(b, ']'))
}

// fullReceipt reads one receipt with its content, history and attempts.
var fullReceipt = `SELECT ` + prefixedSummary + `, r.attempts, r.history, b.headers, b.body, b.encoding, b.trace
	FROM receipts r LEFT JOIN bodies b ON b.seq = r.seq WHERE r.id = ?`

// Receipt implements hookgate.Store.
func (db *DB) Receipt(ctx context.Context, id string) (*hookgate.Receipt, error) {
	var (
		attempts, history string
		headers           sql.NullString
		body, trace       []byte
		encoding          sql.NullInt64
	)
	r, seq, err := scanReceipt(db.read.QueryRowContext(ctx, db.d.q(fullReceipt), id),
		&attempts, &history, &headers, &body, &encoding, &trace)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &hookgate.Error{Code: hookgate.ENotFound, Message: "receipt " + id + " not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("read receipt %s: %w", id, err)
	}
	if headers.Valid {
		if err := setContent(r, headers.String, body, int(encoding.Int64)); err != nil {
			return nil, err
		}
	}
	r.Trace = trace
	if r.Attempts, err = decodeAttempts(attempts, id); err != nil {
		return nil, err
	}
	if err := db.attachReplies(ctx, seq, r.Attempts); err != nil {
		return nil, fmt.Errorf("receipt %s: %w", id, err)
	}
	if r.History, err = decodeHistory(history, id, r.Connection); err != nil {
		return nil, err
	}
	return r, nil
}

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// listQuery builds the listing of f (with ? placeholders) and its arguments,
// and returns the page size.
func listQuery(f hookgate.ReceiptFilter) (query string, qargs []any, limit int, err error) {
	limit = f.Limit
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
	if f.Status != "" && !f.Status.Valid() {
		return "", nil, 0, hookgate.Errorf(hookgate.EInvalid, "unknown status %q", f.Status)
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
		at, seq, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		where = append(where, "(received_at < ? OR (received_at = ? AND seq < ?))")
		args = append(args, at, at, seq)
	}
	const order = " ORDER BY received_at DESC, seq DESC LIMIT ?"
	// one is the listing of one status, or with status "" of every receipt
	// in flight (inFlight) or of every receipt (neither).
	one := func(status hookgate.Status, inFlight bool) (string, []any) {
		w, a := where, args
		switch {
		case status == hookgate.StatusDispatched:
			w = append([]string{"next_attempt_at IS NOT NULL", "lease_owner IS NOT NULL"}, w...)
		case status != "" && hasJob(status):
			w, a = append([]string{"next_attempt_at IS NOT NULL", "lease_owner IS NULL", "status = ?"}, w...),
				append([]any{string(status)}, a...)
		case status != "":
			w, a = append([]string{"next_attempt_at IS NULL", "status = ?"}, w...), append([]any{string(status)}, a...)
		case inFlight:
			w = append([]string{"next_attempt_at IS NOT NULL"}, w...)
		}
		q := `SELECT ` + summaryColumns + ` FROM receipts`
		if len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		return q + order, append(a, limit+1)
	}
	switch {
	case f.Status != "":
		query, qargs = one(f.Status, false)
	case f.Connection != "" && f.EventType != "":
		query, qargs = one("", false)
	default:
		q, a := one("", true)
		parts, n := []string{"SELECT * FROM (" + q + ") queue"}, 0
		qargs = a
		for _, st := range hookgate.Statuses() {
			if hasJob(st) {
				continue
			}
			q, a := one(st, false)
			n++
			parts = append(parts, "SELECT * FROM ("+q+") s"+strconv.Itoa(n))
			qargs = append(qargs, a...)
		}
		query = strings.Join(parts, " UNION ALL ") + order
		qargs = append(qargs, limit+1)
	}
	return query, qargs, limit, nil
}

// Receipts implements hookgate.Store: newest first by received_at, receipts
// received in the same microsecond newest stored first. Since is inclusive,
// Until exclusive. The cursor is opaque to callers: base64 of the last row's
// received_at and seq.
//
// Every filter is served by an index read newest first. A receipt done
// with dispatch (no job) is in the status indexes, receipts_status and
// receipts_connection_status; a receipt in flight (received, dispatched or
// failed: it has a job) is in the due index only, so a listing of an
// in-flight status reads the queue and sorts it, which is short while
// dispatch keeps up. Connection and event type together have
// receipts_connection_event. A listing without a status merges the newest
// rows of each status (and of the queue), at most limit from each, which
// spares ingest two more indexes.
func (db *DB) Receipts(ctx context.Context, f hookgate.ReceiptFilter) ([]*hookgate.Receipt, string, error) {
	query, qargs, limit, err := listQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, db.d.q(query), qargs...)
	if err != nil {
		return nil, "", fmt.Errorf("list receipts: %w", err)
	}
	defer rows.Close()
	out := make([]*hookgate.Receipt, 0, min(limit+1, 64))
	var seqs []int64
	for rows.Next() {
		r, seq, err := scanReceipt(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list receipts: %w", err)
		}
		out, seqs = append(out, r), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list receipts: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(micros(out[limit-1].ReceivedAt), seqs[limit-1])
	}
	return out, next, nil
}

// hasJob reports whether a receipt in status s has a dispatch job: it is in
// flight. Every other status is final until a replay (or an admission).
func hasJob(s hookgate.Status) bool {
	switch s {
	case hookgate.StatusReceived, hookgate.StatusDispatched, hookgate.StatusFailed:
		return true
	}
	return false
}

func encodeCursor(at, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "|" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(s string) (int64, int64, error) {
	bad := hookgate.Errorf(hookgate.EInvalid, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, 0, bad
	}
	at, seq, ok := strings.Cut(string(b), "|")
	if !ok {
		return 0, 0, bad
	}
	v, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return 0, 0, bad
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return 0, 0, bad
	}
	return v, n, nil
}

// bodyArg passes raw bytes as a blob; nil stays NULL.
func bodyArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
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
