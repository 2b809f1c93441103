package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
)

// ActivityCount is how many receipts of one connection, in one status, were
// received in one time bucket.
type ActivityCount struct {
	Connection string
	Status     hookgate.Status
	Bucket     int // 0 is the bucket starting at since
	Count      int64
}

// maxActivityBuckets bounds the buckets one Activity call may ask for.
const maxActivityBuckets = 1000

// Activity counts the receipts of the given connections received from since
// for buckets steps of step, by connection, status and bucket: the
// dashboard's health view and its chart (admin/dashboard).
//
// It reads only indexes: receipts done with dispatch through
// receipts_connection_status (connection, status, received_at), which holds
// every column the count needs, and receipts in flight through the due
// index, which is as long as the queue. Its cost grows with the receipts
// inside the window, never with the rest of the table.
func (db *DB) Activity(ctx context.Context, connections []string, since time.Time, step time.Duration, buckets int) ([]ActivityCount, error) {
	if len(connections) == 0 {
		return nil, nil
	}
	if step <= 0 || buckets <= 0 || buckets > maxActivityBuckets {
		return nil, hookgate.Errorf(hookgate.EInvalid, "activity needs a positive step and 1 to %d buckets", maxActivityBuckets)
	}
	from, stepUS := micros(since), step.Microseconds()
	until := from + stepUS*int64(buckets)
	conns := make([]any, len(connections))
	for i, c := range connections {
		conns[i] = c
	}
	inConns := "connection IN (?" + strings.Repeat(", ?", len(conns)-1) + ")"
	var done []any
	for _, s := range hookgate.Statuses() {
		if !hasJob(s) {
			done = append(done, string(s))
		}
	}
	inDone := "status IN (?" + strings.Repeat(", ?", len(done)-1) + ")"
	// A receipt in flight is "dispatched" while leased (statusOf).
	cols := func(status string) string {
		return `SELECT connection, ` + status + `, (received_at - ?) / ?, COUNT(*) FROM receipts WHERE `
	}
	const window = ` AND received_at >= ? AND received_at < ? GROUP BY 1, 2, 3`
	query := cols("status") + `next_attempt_at IS NULL AND ` + inConns + ` AND ` + inDone + window +
		` UNION ALL ` + cols(statusOf("")) + `next_attempt_at IS NOT NULL AND ` + inConns + window
	args := []any{from, stepUS}
	args = append(args, conns...)
	args = append(args, done...)
	args = append(args, from, until, from, stepUS)
	args = append(args, conns...)
	args = append(args, from, until)

	rows, err := db.read.QueryContext(ctx, db.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("receipt activity: %w", err)
	}
	defer rows.Close()
	var out []ActivityCount
	for rows.Next() {
		var (
			c      ActivityCount
			status string
			bucket int64
		)
		if err := rows.Scan(&c.Connection, &status, &bucket, &c.Count); err != nil {
			return nil, fmt.Errorf("receipt activity: %w", err)
		}
		c.Status, c.Bucket = hookgate.Status(status), int(bucket)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("receipt activity: %w", err)
	}
	return out, nil
}
