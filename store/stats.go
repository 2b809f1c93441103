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

// ReceiptCount is how many receipts of one connection are in one state.
type ReceiptCount struct {
	Connection string
	Status     string
	Count      int64
}

// ReceiptCounts counts the stored receipts by connection and state. Each half
// of the table is read through its own index: the finished receipts through
// the status index (which covers only them), the queue through its own.
func (db *DB) ReceiptCounts(ctx context.Context) ([]ReceiptCount, error) {
	var out []ReceiptCount
	for _, where := range []string{"next_attempt_at IS NULL", "next_attempt_at IS NOT NULL"} {
		rows, err := db.read.QueryContext(ctx, `SELECT connection, status, COUNT(*) FROM receipts WHERE `+where+` GROUP BY connection, status`)
		if err != nil {
			return nil, fmt.Errorf("receipt counts: %w", err)
		}
		for rows.Next() {
			var c ReceiptCount
			if err := rows.Scan(&c.Connection, &c.Status, &c.Count); err != nil {
				rows.Close()
				return nil, fmt.Errorf("receipt counts: %w", err)
			}
			out = append(out, c)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("receipt counts: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("receipt counts: %w", err)
		}
	}
	return out, nil
}
