package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// Rejected receipts (SPEC §2, §9). A forged request that gets past the
// per-connection rate limit of ingress is recorded: one row in receipts, one
// in bodies with its headers, body and verification trace. Recording is the
// insert alone, whatever the connection already holds; the budget of a
// connection (hookgate.RejectedBudget) is enforced later by PruneRejected,
// which the gateway runs in the background.
//
// What a rejected receipt keeps is bounded from the start: its headers are
// capped by capHeaders (1 KiB a value, 8 KiB in all), and its body by the
// connection's max_payload_bytes. Within the budget, its headers and body
// count together.

// Caps on the headers of a recorded (rejected or handshake) receipt: a value
// longer than recordedValueMax is cut there and marked, and values beyond
// recordedHeadersMax in all (names included) are dropped, the largest first,
// so the small headers that explain a rejection (signature, timestamp,
// delivery id, user agent) stay and are enough to admit it later.
const (
	recordedValueMax   = 1 << 10
	recordedHeadersMax = 8 << 10
)

// DroppedHeaders names the header that a recorded receipt carries in place of
// the values its header cap dropped.
const DroppedHeaders = "Hookgate-Dropped-Headers"

// capHeaders returns h within the caps of a recorded receipt: h itself when
// it is within them already.
func capHeaders(h http.Header) http.Header {
	size, long := 0, false
	for name, vs := range h {
		for _, v := range vs {
			size += len(name) + len(v)
			long = long || len(v) > recordedValueMax
		}
	}
	if size <= recordedHeadersMax && !long {
		return h
	}
	type header struct {
		name string
		size int
	}
	byName := make([]header, 0, len(h))
	for name, vs := range h {
		n := 0
		for _, v := range vs {
			n += len(name) + min(len(v), recordedValueMax)
		}
		byName = append(byName, header{name, n})
	}
	slices.SortFunc(byName, func(a, b header) int {
		if a.size != b.size {
			return a.size - b.size
		}
		return cmp.Compare(a.name, b.name)
	})
	out := make(http.Header, len(h))
	room, dropped := recordedHeadersMax, 0
	for _, hd := range byName {
		for _, v := range h[hd.name] {
			if len(v) > recordedValueMax {
				v = v[:recordedValueMax] + "…[truncated from " + strconv.Itoa(len(v)) + " bytes]"
			}
			if len(hd.name)+len(v) > room {
				dropped++
				continue
			}
			room -= len(hd.name) + len(v)
			out[hd.name] = append(out[hd.name], v)
		}
	}
	if dropped > 0 {
		out[DroppedHeaders] = []string{strconv.Itoa(dropped) + " values beyond the 8 KiB a rejected receipt keeps"}
	}
	return out
}

// pruneRows bounds the rows one pruning transaction reads or changes, so that
// it holds SQLite's single writer (and PostgreSQL's row locks) a few
// milliseconds (500 receipts with 2 KiB bodies took 12 ms, median, on the
// project's loaded machine); prunePause is the rest between two of them, in
// which ingest's group commits run.
const (
	pruneRows  = 250
	prunePause = 2 * time.Millisecond
)

// rest waits prunePause, or until ctx ends.
func rest(ctx context.Context) error {
	t := time.NewTimer(prunePause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// position is a receipt's place in the order of the connection-and-status
// index: (received_at, seq).
type position struct{ at, seq int64 }

// PruneRejected implements hookgate.Store.
//
// Every step reads or writes at most pruneRows receipts through the index on
// (connection, status, received_at, seq), so its cost does not grow with the
// number of rejected receipts stored:
//
//   - Count: the b.Receipts-th newest rejected receipt is found by one
//     index-only read, and everything older is deleted oldest first.
//   - Bytes: the connection's floor (rejected_floors) marks the newest
//     receipt whose headers and body were dropped. The receipts above it are
//     read newest first, summing their headers and bodies, until the sum
//     passes b.Bytes; those from there down to the floor lose headers and
//     body, oldest first, and the floor moves up with each transaction.
//
// So a pass costs the receipts that still hold bytes (at most b.Receipts),
// not the connection's whole history. On PostgreSQL a rejection committed
// late, below a floor that already passed it, keeps its bytes until
// retention deletes it: a few receipts at most, never a growing number.
func (db *DB) PruneRejected(ctx context.Context, connection string, b hookgate.RejectedBudget) (dropped, deleted int64, err error) {
	if b.Receipts > 0 {
		if deleted, err = db.deleteRejectedBeyond(ctx, connection, b.Receipts); err != nil {
			return 0, deleted, fmt.Errorf("prune rejected receipts of %s: %w", connection, err)
		}
	}
	if dropped, err = db.dropRejectedBeyond(ctx, connection, b.Bytes); err != nil {
		return dropped, deleted, fmt.Errorf("prune rejected bodies of %s: %w", connection, err)
	}
	return dropped, deleted, nil
}

// rejectedOf selects the rejected receipts of a connection through the
// partial index receipts_connection_status (a rejected receipt has no job).
const rejectedOf = `connection = ? AND status = 'rejected' AND next_attempt_at IS NULL`

// byConnection names the index every query of the rejected budget must walk:
// SQLite's planner, without statistics, may otherwise take the status index
// and read every connection's rejected receipts (PostgreSQL's planner has
// them, and no such clause).
func (db *DB) byConnection() string {
	if db.d.dollar {
		return ""
	}
	return " INDEXED BY receipts_connection_status"
}

// deleteRejectedBeyond deletes the rejected receipts of connection older than
// its keep newest.
func (db *DB) deleteRejectedBeyond(ctx context.Context, connection string, keep int) (int64, error) {
	var cut position
	err := db.read.QueryRowContext(ctx, db.d.q(`SELECT received_at, seq FROM receipts`+db.byConnection()+` WHERE `+rejectedOf+`
		ORDER BY received_at DESC, seq DESC LIMIT 1 OFFSET ?`), connection, keep).Scan(&cut.at, &cut.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the oldest kept: %w", err)
	}
	var total int64
	for {
		var n int
		err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ids, seqs, _, err := db.rejectedUpTo(ctx, tx, connection, position{}, cut)
			n = len(ids)
			if err != nil || n == 0 {
				return err
			}
			return db.deleteReceipts(ctx, tx, ids, seqs)
		})
		if err != nil {
			return total, err
		}
		total += int64(n)
		if n < pruneRows {
			return total, nil
		}
		if err := rest(ctx); err != nil {
			return total, err
		}
	}
}

// dropRejectedBeyond drops the headers and bodies of connection's rejected
// receipts beyond the newest budget bytes of them.
func (db *DB) dropRejectedBeyond(ctx context.Context, connection string, budget int64) (int64, error) {
	var floor position
	err := db.read.QueryRowContext(ctx, db.d.q(`SELECT received_at, seq FROM rejected_floors WHERE connection = ?`),
		connection).Scan(&floor.at, &floor.seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read floor: %w", err)
	}
	cut, over, err := db.rejectedOverBudget(ctx, connection, floor, budget)
	if err != nil || !over {
		return 0, err
	}
	var total int64
	for {
		var n int
		var dropped int64
		var last position
		err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
			ids, seqs, top, err := db.rejectedUpTo(ctx, tx, connection, floor, cut)
			n, dropped, last = len(ids), 0, top
			if err != nil || n == 0 {
				return err
			}
			cond, args := db.in("seq", seqs)
			res, err := tx.ExecContext(ctx, db.d.q(`UPDATE bodies SET headers = '{}', body = NULL, encoding = 0
				WHERE `+cond+` AND (body IS NOT NULL OR headers <> '{}')`), args...)
			if err != nil {
				return fmt.Errorf("drop bodies: %w", err)
			}
			if dropped, err = res.RowsAffected(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO rejected_floors (connection, received_at, seq)
				VALUES (?, ?, ?) ON CONFLICT (connection) DO UPDATE SET received_at = excluded.received_at,
				seq = excluded.seq WHERE (excluded.received_at, excluded.seq) > (rejected_floors.received_at, rejected_floors.seq)`),
				connection, top.at, top.seq); err != nil {
				return fmt.Errorf("move floor: %w", err)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += dropped
		if n < pruneRows {
			return total, nil
		}
		floor = last
		if err := rest(ctx); err != nil {
			return total, err
		}
	}
}

// rejectedOverBudget reads the connection's rejected receipts above floor,
// newest first, pruneRows a query, and returns the newest one at which their
// headers and bodies pass budget bytes in all (it and everything older must
// go), or over false when they fit.
func (db *DB) rejectedOverBudget(ctx context.Context, connection string, floor position, budget int64) (cut position, over bool, err error) {
	size := `length(CAST(b.headers AS BLOB)) + COALESCE(length(b.body), 0)`
	if db.d.dollar {
		size = `octet_length(b.headers) + COALESCE(octet_length(b.body), 0)`
	}
	query := db.d.q(`SELECT r.received_at, r.seq, ` + size + ` FROM receipts AS r` + db.byConnection() + ` JOIN bodies b ON b.seq = r.seq
		WHERE r.connection = ? AND r.status = 'rejected' AND r.next_attempt_at IS NULL
			AND (r.received_at, r.seq) > (?, ?) AND (r.received_at, r.seq) < (?, ?)
		ORDER BY r.received_at DESC, r.seq DESC LIMIT ?`)
	var sum int64
	below := position{math.MaxInt64, math.MaxInt64}
	for {
		rows, err := db.read.QueryContext(ctx, query, connection, floor.at, floor.seq, below.at, below.seq, pruneRows)
		if err != nil {
			return cut, false, fmt.Errorf("sum kept bytes: %w", err)
		}
		n := 0
		for rows.Next() {
			var p position
			var bytes int64
			if err := rows.Scan(&p.at, &p.seq, &bytes); err != nil {
				rows.Close()
				return cut, false, fmt.Errorf("sum kept bytes: %w", err)
			}
			n, below, sum = n+1, p, sum+bytes
			if sum > budget {
				rows.Close()
				return p, true, nil
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return cut, false, fmt.Errorf("sum kept bytes: %w", err)
		}
		if n < pruneRows {
			return cut, false, nil
		}
	}
}

// rejectedUpTo returns the ids and seqs of the oldest pruneRows rejected
// receipts of connection after from and up to cut (inclusive), and the
// position of the last one. On PostgreSQL it locks them, passing over rows
// another pruner holds.
func (db *DB) rejectedUpTo(ctx context.Context, tx *sql.Tx, connection string, from, cut position) (ids []string, seqs []int64, last position, err error) {
	rows, err := tx.QueryContext(ctx, db.d.q(`SELECT id, seq, received_at FROM receipts`+db.byConnection()+` WHERE `+rejectedOf+`
		AND (received_at, seq) > (?, ?) AND (received_at, seq) <= (?, ?)
		ORDER BY received_at, seq LIMIT ?`+db.d.skipLocked), connection, from.at, from.seq, cut.at, cut.seq, pruneRows)
	if err != nil {
		return nil, nil, last, fmt.Errorf("select rejected receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id, &last.seq, &last.at); err != nil {
			return nil, nil, last, fmt.Errorf("select rejected receipts: %w", err)
		}
		ids, seqs = append(ids, id), append(seqs, last.seq)
	}
	return ids, seqs, last, rows.Err()
}

// in returns the condition "column is one of values" and its arguments: an
// IN list on SQLite, one array on PostgreSQL (whose statements are cached by
// text, so one text serves every length).
func (db *DB) in(column string, values any) (string, []any) {
	if db.d.dollar {
		switch values.(type) {
		case []int64:
			return column + " = ANY(?::bigint[])", []any{values}
		default:
			return column + " = ANY(?::text[])", []any{values}
		}
	}
	var args []any
	switch vs := values.(type) {
	case []int64:
		for _, v := range vs {
			args = append(args, v)
		}
	case []string:
		for _, v := range vs {
			args = append(args, v)
		}
	}
	return column + " IN (" + placeholders(len(args)) + ")", args
}

// execIn runs head followed by "column is one of values".
func (db *DB) execIn(ctx context.Context, tx *sql.Tx, head, column string, values any) error {
	cond, args := db.in(column, values)
	_, err := tx.ExecContext(ctx, db.d.q(head+cond), args...)
	return err
}
