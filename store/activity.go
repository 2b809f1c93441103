package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
)

// Activity is what the receipts received in a time window add up to: the
// dashboard's health view (admin/dashboard).
type Activity struct {
	// Buckets counts, for each step of the window, the receipts of every
	// connection received in it, by status.
	Buckets []map[hookgate.Status]int64
	// Connections counts, for each connection asked for, the receipts
	// received in the whole window, by status.
	Connections map[string]map[hookgate.Status]int64
}

// maxActivityBuckets bounds the buckets one Activity call may ask for.
const maxActivityBuckets = 1000

// Activity counts the receipts received from since for buckets steps of
// step: by bucket and status over every connection, and by status for each
// of connections over the whole window.
//
// Every count is a range of an index counted in place: receipts done with
// dispatch through receipts_status (status, received_at) for the buckets
// and receipts_connection_status for the connections, one range per
// bucket or connection and status, so no row is read and nothing is
// sorted; receipts in flight through the due index, as long as the queue.
// A GROUP BY over the window's rows would read each row and sort them:
// with 100k receipts in the window, 10 times slower on SQLite.
func (db *DB) Activity(ctx context.Context, connections []string, since time.Time, step time.Duration, buckets int) (Activity, error) {
	if step <= 0 || buckets <= 0 || buckets > maxActivityBuckets {
		return Activity{}, hookgate.Errorf(hookgate.EInvalid, "activity needs a positive step and 1 to %d buckets", maxActivityBuckets)
	}
	from, stepUS := micros(since), step.Microseconds()
	until := from + stepUS*int64(buckets)
	act := Activity{Buckets: make([]map[hookgate.Status]int64, buckets), Connections: map[string]map[hookgate.Status]int64{}}
	for i := range act.Buckets {
		act.Buckets[i] = map[hookgate.Status]int64{}
	}
	for _, c := range connections {
		act.Connections[c] = map[hookgate.Status]int64{}
	}
	var done []any
	for _, s := range hookgate.Statuses() {
		if !hasJob(s) {
			done = append(done, string(s))
		}
	}
	values := func(n int) string {
		return "(VALUES (CAST(? AS TEXT))" + strings.Repeat(", (CAST(? AS TEXT))", n-1) + ")"
	}
	count := func(query string, args []any, add func(key string, status hookgate.Status, n int64)) error {
		rows, err := db.read.QueryContext(ctx, db.d.q(query), args...)
		if err != nil {
			return fmt.Errorf("receipt activity: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				key, status string
				n           int64
			)
			if err := rows.Scan(&key, &status, &n); err != nil {
				return fmt.Errorf("receipt activity: %w", err)
			}
			if n > 0 {
				add(key, hookgate.Status(status), n)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("receipt activity: %w", err)
		}
		return nil
	}

	// Done with dispatch, by bucket.
	q := `WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < ?), s(status) AS ` + values(len(done)) +
		` SELECT CAST(b.i AS TEXT), s.status, (SELECT COUNT(*) FROM receipts r WHERE r.next_attempt_at IS NULL AND r.status = s.status` +
		` AND r.received_at >= CAST(? AS BIGINT) + b.i * CAST(? AS BIGINT) AND r.received_at < CAST(? AS BIGINT) + (b.i + 1) * CAST(? AS BIGINT)) FROM b, s`
	args := append(append([]any{buckets - 1}, done...), from, stepUS, from, stepUS)
	err := count(q, args, func(key string, status hookgate.Status, n int64) {
		var i int
		if _, err := fmt.Sscan(key, &i); err == nil && i >= 0 && i < buckets {
			act.Buckets[i][status] += n
		}
	})
	if err != nil {
		return Activity{}, err
	}
	// Done with dispatch, by connection.
	if len(connections) > 0 {
		q = `WITH c(connection) AS ` + values(len(connections)) + `, s(status) AS ` + values(len(done)) +
			` SELECT c.connection, s.status, (SELECT COUNT(*) FROM receipts r WHERE r.next_attempt_at IS NULL` +
			` AND r.connection = c.connection AND r.status = s.status AND r.received_at >= ? AND r.received_at < ?) FROM c, s`
		args = nil
		for _, c := range connections {
			args = append(args, c)
		}
		args = append(append(args, done...), from, until)
		err = count(q, args, func(conn string, status hookgate.Status, n int64) { act.Connections[conn][status] += n })
		if err != nil {
			return Activity{}, err
		}
	}
	// In flight ("dispatched" while leased, see statusOf): the queue.
	q = `SELECT connection, ` + statusOf("") + `, (received_at - CAST(? AS BIGINT)) / CAST(? AS BIGINT), COUNT(*) FROM receipts` +
		` WHERE next_attempt_at IS NOT NULL AND received_at >= ? AND received_at < ? GROUP BY 1, 2, 3`
	rows, err := db.read.QueryContext(ctx, db.d.q(q), from, stepUS, from, until)
	if err != nil {
		return Activity{}, fmt.Errorf("receipt activity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			conn, status string
			i, n         int64
		)
		if err := rows.Scan(&conn, &status, &i, &n); err != nil {
			return Activity{}, fmt.Errorf("receipt activity: %w", err)
		}
		if i >= 0 && i < int64(buckets) {
			act.Buckets[i][hookgate.Status(status)] += n
		}
		if m, ok := act.Connections[conn]; ok {
			m[hookgate.Status(status)] += n
		}
	}
	if err := rows.Err(); err != nil {
		return Activity{}, fmt.Errorf("receipt activity: %w", err)
	}
	return act, nil
}
