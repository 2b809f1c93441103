package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// insertOp is one receipt to store: an ingested delivery (with its
// idempotency key and, when received, its job) or a recorded rejection or
// handshake (no key, no job). Inserts of one batch are written together: the
// keys by one multi-row upsert, the receipts and their bodies by one
// multi-row INSERT each.
type insertOp struct {
	req *writeReq
	r   *hookgate.Receipt
	// requested is the status asked for; status and duplicateOf are the
	// outcome (duplicate when the key is held).
	requested   hookgate.Status
	status      hookgate.Status
	duplicateOf string
	headers     []byte
	body        []byte // as stored, see packBody
	encoding    int
	at          int64 // received_at, microseconds
	keyExpires  int64
	seq         int64
	// leaseOwner and leaseUntil lease the job at once (IngestLeased).
	leaseOwner string
	leaseUntil int64
}

// Expect implements hookgate.Expecter: a write submitted with the returned
// context (Ingest, Record) ends the announcement when it is queued.
func (db *DB) Expect(ctx context.Context) (context.Context, func()) { return db.batch.expect(ctx) }

var _ hookgate.Expecter = (*DB)(nil)

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
	op := newInsertOp(r, status)
	if r.IdempotencyKey != "" {
		op.keyExpires = micros(r.ReceivedAt.Add(ttl))
	}
	if err := db.submit(ctx, &writeReq{ins: op, done: make(chan struct{}, 1)}); err != nil {
		return hookgate.Transition{}, fmt.Errorf("ingest receipt %s: %w", r.ID, err)
	}
	return op.stored(), nil
}

// Record implements hookgate.Store.
func (db *DB) Record(ctx context.Context, r *hookgate.Receipt) (hookgate.Transition, error) {
	if r.ID == "" || r.ReceivedAt.IsZero() {
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "record: receipt id and received_at are required")
	}
	if r.Status != hookgate.StatusRejected && r.Status != hookgate.StatusHandshake {
		return hookgate.Transition{}, hookgate.Errorf(hookgate.EInvalid, "record: status %q is not rejected or handshake", r.Status)
	}
	// A recorded receipt may come from anyone (it failed authentication, or
	// is an unsigned handshake): it keeps bounded headers (capHeaders), and
	// recording it is this one insert, whatever the connection holds already
	// (its budget is enforced later, by PruneRejected).
	r.Headers = capHeaders(r.Headers)
	op := newInsertOp(r, r.Status)
	if err := db.submit(ctx, &writeReq{ins: op, done: make(chan struct{}, 1)}); err != nil {
		return hookgate.Transition{}, fmt.Errorf("record receipt %s: %w", r.ID, err)
	}
	return op.stored(), nil
}

func newInsertOp(r *hookgate.Receipt, status hookgate.Status) *insertOp {
	headers := encodeHeaders(r.Headers)
	body, encoding := packBody(r.Body)
	at := micros(r.ReceivedAt)
	return &insertOp{r: r, requested: status, headers: headers, body: body, encoding: encoding, at: at}
}

// stored updates the receipt to what was written and returns its first
// transition.
func (op *insertOp) stored() hookgate.Transition {
	r := op.r
	r.ReceivedAt = fromMicros(op.at) // the stored precision from here on
	r.Status, r.DuplicateOf, r.UpdatedAt, r.AttemptCount = op.status, op.duplicateOf, r.ReceivedAt, 0
	r.NextAttemptAt = nil
	if op.status == hookgate.StatusReceived {
		at := r.ReceivedAt
		r.NextAttemptAt = &at
	}
	tr := hookgate.Transition{ReceiptID: r.ID, Connection: r.Connection, Status: op.status, Reason: r.Reason, At: r.ReceivedAt}
	r.History = []hookgate.Transition{tr}
	return tr
}

// roundKey is what must be distinct within one statement: the idempotency
// key, or for a receipt without one (a rejection, a handshake) its id.
func (op *insertOp) roundKey() string {
	if op.r.IdempotencyKey != "" {
		return op.r.IdempotencyKey
	}
	return "\x00" + op.r.ID
}

// next is the job's due time (received_at) for a receipt that gets a job.
func (op *insertOp) next() any {
	if op.status == hookgate.StatusReceived {
		return op.at
	}
	return nil
}

// insertAll writes ops in tx: it takes their idempotency keys (a key held
// within its TTL makes the receipt a duplicate of its owner), then inserts the
// receipts and their bodies. It may run again for the same ops (see
// runBatch), so it resets every outcome first.
func (db *DB) insertAll(ctx context.Context, tx querier, ops []*insertOp) error {
	for _, op := range ops {
		op.status, op.duplicateOf, op.seq = op.requested, "", 0
	}
	if db.d.dollar {
		// One statement a round takes the keys and writes the receipts
		// and bodies; a key that repeats in the batch waits a round.
		return inRounds(ops, (*insertOp).roundKey, func(round []*insertOp) error { return insertPostgres(ctx, tx, round) })
	}
	sqlTx, ok := tx.(*sql.Tx)
	if !ok {
		return fmt.Errorf("insert receipts: SQLite writes run in a transaction")
	}
	if err := db.takeKeys(ctx, sqlTx, ops); err != nil {
		return err
	}
	return db.insertSQLite(ctx, sqlTx, ops)
}

// takeKeys claims the idempotency keys of ops. Within one statement the keys
// must be distinct (PostgreSQL refuses to touch a row twice in one INSERT … ON
// CONFLICT), so a key that repeats within the batch waits for the next round,
// where it meets the first one's row like any later delivery would. The
// unique key decides, never a check before the insert.
func (db *DB) takeKeys(ctx context.Context, tx *sql.Tx, ops []*insertOp) error {
	var pending []*insertOp
	for _, op := range ops {
		if op.r.IdempotencyKey != "" {
			pending = append(pending, op)
		}
	}
	return inRounds(pending, func(op *insertOp) string { return op.r.IdempotencyKey }, func(round []*insertOp) error {
		owners, err := db.upsertKeys(ctx, tx, round)
		if err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		for _, op := range round {
			owner, ok := owners[op.r.IdempotencyKey]
			switch {
			case !ok:
				return fmt.Errorf("idempotency key %q: no owner returned", op.r.IdempotencyKey)
			case owner != op.r.ID:
				op.status, op.duplicateOf = hookgate.StatusDuplicate, owner
			}
		}
		return nil
	})
}

// inRounds calls fn with items in rounds whose keys are distinct, each item
// in the first round that does not hold its key yet, keeping their order:
// a statement over a round never meets one key twice.
func inRounds[T any](items []T, key func(T) string, fn func(round []T) error) error {
	for len(items) > 0 {
		seen := make(map[string]bool, len(items))
		round, later := make([]T, 0, len(items)), items[:0:0]
		for _, it := range items {
			if k := key(it); seen[k] {
				later = append(later, it)
			} else {
				seen[k] = true
				round = append(round, it)
			}
		}
		if err := fn(round); err != nil {
			return err
		}
		items = later
	}
	return nil
}

// Key statements. A key is taken by inserting it, or by taking over one
// whose TTL ended before the new receipt arrived (taken_at is the arrival of
// the receipt that holds the key). The conflict branch always updates the
// row, to itself when the key is held, so RETURNING answers every key with
// the receipt that holds it now: the receipt itself when taken, else the one
// it duplicates. The row read is the latest committed one under its lock, not
// a snapshot, so a key taken by a concurrent transaction a moment ago is seen.
const (
	upsertKeysHead = `INSERT OR FAIL INTO idempotency_keys AS old (key, receipt_id, expires_at, taken_at) VALUES `
	upsertKeysTail = ` ON CONFLICT (key) DO UPDATE SET
	receipt_id = CASE WHEN old.expires_at <= excluded.taken_at THEN excluded.receipt_id ELSE old.receipt_id END,
	expires_at = CASE WHEN old.expires_at <= excluded.taken_at THEN excluded.expires_at ELSE old.expires_at END,
	taken_at = CASE WHEN old.expires_at <= excluded.taken_at THEN excluded.taken_at ELSE old.taken_at END
	RETURNING key, receipt_id`
	upsertKeysPostgres = `INSERT INTO idempotency_keys AS old (key, receipt_id, expires_at, taken_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])` + upsertKeysTail
)

// upsertKeys takes or meets the keys of ops and returns each key's owner.
func (db *DB) upsertKeys(ctx context.Context, tx *sql.Tx, ops []*insertOp) (map[string]string, error) {
	owners := make(map[string]string, len(ops))
	collect := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, owner string
			if err := rows.Scan(&k, &owner); err != nil {
				return err
			}
			owners[k] = owner
		}
		return rows.Err()
	}
	if db.d.dollar {
		keys, ids := make([]string, len(ops)), make([]string, len(ops))
		expires, at := make([]int64, len(ops)), make([]int64, len(ops))
		for i, op := range ops {
			keys[i], ids[i], expires[i], at[i] = op.r.IdempotencyKey, op.r.ID, op.keyExpires, op.at
		}
		return owners, collect(tx.QueryContext(ctx, upsertKeysPostgres, keys, ids, expires, at))
	}
	err := chunks(len(ops), func(lo, hi int) error {
		args := make([]any, 0, 4*(hi-lo))
		for _, op := range ops[lo:hi] {
			args = append(args, op.r.IdempotencyKey, op.r.ID, op.keyExpires, op.at)
		}
		return collect(db.query(ctx, tx, upsertKeysSQLite(hi-lo), args...))
	})
	return owners, err
}

// receiptColumns are the columns an insert writes (the job columns lease_*
// start NULL, attempts empty).
const receiptColumns = `id, connection_type, connection, event_type, nonce, idempotency_key, status, reason,
	duplicate_of, received_at, updated_at, secret_id, attempt_count, round, next_attempt_at, history, ordering_key, source`

// receiptArgs are an op's values for receiptColumns.
func (op *insertOp) receiptArgs(args []any) []any {
	r := op.r
	return append(args, r.ID, r.ConnectionType, r.Connection, r.EventType, r.Nonce, r.IdempotencyKey,
		string(op.status), r.Reason, nullString(op.duplicateOf), op.at, op.at, r.SecretID, 0, r.Round, op.next(),
		historyLine(hookgate.Transition{Status: op.status, Reason: r.Reason, At: fromMicros(op.at)}),
		nullString(r.OrderingKey), nullString(r.Source))
}

// The multi-row statements of SQLite are OR FAIL: with the default (ABORT),
// SQLite keeps a statement journal of every page a statement changes, so that
// a constraint failure can undo that statement alone, and for a statement of
// a hundred rows that journal costs more than the rows. A failure here rolls
// the whole batch back anyway (runBatch), so there is nothing to undo alone.
const receiptPlaceholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

func upsertKeysSQLite(n int) string {
	return upsertKeysHead + repeatJoin("(?, ?, ?, ?)", n) + upsertKeysTail
}

func insertReceiptsSQLite(n int) string {
	return `INSERT OR FAIL INTO receipts (` + receiptColumns + `) VALUES ` + repeatJoin(receiptPlaceholders, n) + ` RETURNING id, seq`
}

func insertBodiesSQLite(n int) string {
	return `INSERT OR FAIL INTO bodies (seq, headers, body, encoding, trace) VALUES ` + repeatJoin("(?, ?, ?, ?, ?)", n)
}

// sqliteStatements are the statements SQLite prepares when it opens: the
// multi-row writes in every chunk size, and the claim.
func sqliteStatements() []string {
	var out []string
	for _, n := range chunkSizes {
		out = append(out, upsertKeysSQLite(n), insertReceiptsSQLite(n), insertBodiesSQLite(n), completeSQLite(n))
	}
	return append(out, claimSQLite)
}

func (db *DB) insertSQLite(ctx context.Context, tx *sql.Tx, ops []*insertOp) error {
	byID := make(map[string]*insertOp, len(ops))
	for _, op := range ops {
		byID[op.r.ID] = op
	}
	err := chunks(len(ops), func(lo, hi int) error {
		args := make([]any, 0, 18*(hi-lo))
		for _, op := range ops[lo:hi] {
			args = op.receiptArgs(args)
		}
		rows, err := db.query(ctx, tx, insertReceiptsSQLite(hi-lo), args...)
		if err != nil {
			return err
		}
		return setSeqs(rows, byID)
	})
	if err != nil {
		return fmt.Errorf("insert receipts: %w", err)
	}
	err = chunks(len(ops), func(lo, hi int) error {
		args := make([]any, 0, 5*(hi-lo))
		for _, op := range ops[lo:hi] {
			if op.seq == 0 {
				return fmt.Errorf("receipt %s was not inserted", op.r.ID)
			}
			args = append(args, op.seq, string(op.headers), bodyArg(op.body), op.encoding, bodyArg(op.r.Trace))
		}
		_, err := db.exec(ctx, tx, insertBodiesSQLite(hi-lo), args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert bodies: %w", err)
	}
	return nil
}

// insertPostgresQuery is a round of ingests in one statement: it takes the
// keys (the upsert of upsertKeysPostgres), writes each receipt with the status
// the key decided (a duplicate of the key's holder, or the status asked for,
// with a job when received) and its first history line, and each body with
// the seq its receipt was given. It answers every receipt it wrote.
const insertPostgresQuery = `WITH x AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::bigint[], $10::text[], $11::integer[], $12::bigint[], $13::text[], $14::bytea[],
		$15::smallint[], $16::bytea[], $17::text[], $18::text[])
		AS x (id, connection_type, connection, event_type, nonce, idempotency_key, status, reason, at,
			secret_id, round, key_expires, headers, body, encoding, trace, ordering_key, source)
), k AS (
	INSERT INTO idempotency_keys AS old (key, receipt_id, expires_at, taken_at)
	SELECT idempotency_key, id, key_expires, at FROM x WHERE idempotency_key <> ''` + upsertKeysTail + `
), s AS (
	SELECT x.*, CASE WHEN k.receipt_id IS NULL OR k.receipt_id = x.id THEN x.status ELSE 'duplicate' END AS final,
		CASE WHEN k.receipt_id <> x.id THEN k.receipt_id END AS dup
	FROM x LEFT JOIN k ON k.key = x.idempotency_key
), r AS (
	INSERT INTO receipts (` + receiptColumns + `)
	SELECT id, connection_type, connection, event_type, nonce, idempotency_key, final, reason, dup, at, at,
		secret_id, 0, round, CASE WHEN final = 'received' THEN at END,
		json_build_object('status', final, 'reason', reason, 'at', at)::text || E'\n', ordering_key, source
	FROM s
	RETURNING id, seq, status, duplicate_of
), b AS (
	INSERT INTO bodies (seq, headers, body, encoding, trace)
	SELECT r.seq, x.headers, x.body, x.encoding, x.trace FROM r JOIN x ON x.id = r.id
)
SELECT id, seq, status, duplicate_of FROM r`

// querier is a *sql.Tx, or a *sql.DB for a statement that commits alone.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func insertPostgres(ctx context.Context, tx querier, ops []*insertOp) error {
	n := len(ops)
	var (
		ids, types, conns, events, nonces = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		keys, statuses, reasons, secrets  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at, expires                       = make([]int64, n), make([]int64, n)
		rounds                            = make([]int32, n)
		headers                           = make([]string, n)
		bodies, traces                    = make([][]byte, n), make([][]byte, n)
		encodings                         = make([]int16, n)
	)
	// Ordering keys are rare: without any, the array is NULL and unnest
	// pads the column with NULLs.
	var orderingKeys, sources []*string
	byID := make(map[string]*insertOp, n)
	for i, op := range ops {
		r := op.r
		byID[r.ID] = op
		if r.OrderingKey != "" {
			if orderingKeys == nil {
				orderingKeys = make([]*string, n)
			}
			orderingKeys[i] = &r.OrderingKey
		}
		if r.Source != "" { // as rare: backfilled receipts only
			if sources == nil {
				sources = make([]*string, n)
			}
			sources[i] = &r.Source
		}
		ids[i], types[i], conns[i], events[i], nonces[i] = r.ID, r.ConnectionType, r.Connection, r.EventType, r.Nonce
		keys[i], statuses[i], reasons[i], secrets[i] = r.IdempotencyKey, string(op.requested), r.Reason, r.SecretID
		at[i], rounds[i], expires[i] = op.at, int32(r.Round), op.keyExpires
		headers[i], bodies[i], encodings[i], traces[i] = string(op.headers), op.body, int16(op.encoding), r.Trace
	}
	rows, err := tx.QueryContext(ctx, insertPostgresQuery, ids, types, conns, events, nonces, keys, statuses,
		reasons, at, secrets, rounds, expires, headers, bodies, encodings, traces, orderingKeys, sources)
	if err != nil {
		return fmt.Errorf("insert receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, status string
			seq        int64
			dup        sql.NullString
		)
		if err := rows.Scan(&id, &seq, &status, &dup); err != nil {
			return fmt.Errorf("insert receipts: %w", err)
		}
		if op := byID[id]; op != nil {
			op.seq, op.status, op.duplicateOf = seq, hookgate.Status(status), dup.String
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert receipts: %w", err)
	}
	for _, op := range ops {
		if op.seq == 0 {
			return fmt.Errorf("insert receipts: receipt %s was not inserted", op.r.ID)
		}
	}
	return nil
}

// setSeqs reads the (id, seq) rows an insert returned into the ops of byID,
// and closes rows.
func setSeqs(rows *sql.Rows, byID map[string]*insertOp) error {
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			seq int64
		)
		if err := rows.Scan(&id, &seq); err != nil {
			return err
		}
		if op := byID[id]; op != nil {
			op.seq = seq
		}
	}
	return rows.Err()
}

// repeatJoin returns n copies of s joined by ", ".
func repeatJoin(s string, n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(s+", ", n-1) + s
}
