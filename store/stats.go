package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// QueueStats reports how many receipts wait for dispatch (a job is set) and
// how long the oldest of them has waited since it was received.
func (db *DB) QueueStats(ctx context.Context, now time.Time) (int64, time.Duration, error) {
	var (
		depth  int64
		oldest sql.NullInt64
	)
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*), MIN(received_at) FROM receipts WHERE next_attempt_at IS NOT NULL`).
		Scan(&depth, &oldest)
	if err != nil {
		return 0, 0, fmt.Errorf("queue stats: %w", err)
	}
	if !oldest.Valid {
		return depth, 0, nil
	}
	return depth, max(now.Sub(fromMicros(oldest.Int64)), 0), nil
}
