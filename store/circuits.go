package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

var _ hookgate.CircuitStore = (*DB)(nil)

// Circuits implements hookgate.CircuitStore.
func (db *DB) Circuits(ctx context.Context) ([]hookgate.CircuitStatus, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT handler, state, consecutive_failures, opened_at, retry_at, version
		FROM circuits ORDER BY handler`)
	if err != nil {
		return nil, fmt.Errorf("read circuits: %w", err)
	}
	defer rows.Close()
	var out []hookgate.CircuitStatus
	for rows.Next() {
		s, err := scanCircuit(rows)
		if err != nil {
			return nil, fmt.Errorf("read circuits: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read circuits: %w", err)
	}
	return out, nil
}

// CircuitFailed implements hookgate.CircuitStore.
func (db *DB) CircuitFailed(ctx context.Context, handler string, now time.Time, threshold int, reset time.Duration) (before, after hookgate.CircuitStatus, err error) {
	err = db.changeCircuit(ctx, handler, func(s hookgate.CircuitStatus) (hookgate.CircuitStatus, bool) {
		return s.Failed(now, threshold, reset), true
	}, &before, &after)
	if err != nil {
		return before, after, fmt.Errorf("count failure of handler %s: %w", handler, err)
	}
	return before, after, nil
}

// CircuitSucceeded implements hookgate.CircuitStore.
func (db *DB) CircuitSucceeded(ctx context.Context, handler string) (before, after hookgate.CircuitStatus, err error) {
	err = db.changeCircuit(ctx, handler, func(s hookgate.CircuitStatus) (hookgate.CircuitStatus, bool) {
		if s.Closed() && s.ConsecutiveFailures == 0 {
			return s, false // nothing to write
		}
		return s.Succeeded(), true
	}, &before, &after)
	if err != nil {
		return before, after, fmt.Errorf("close circuit of handler %s: %w", handler, err)
	}
	return before, after, nil
}

// CircuitProbe implements hookgate.CircuitStore.
func (db *DB) CircuitProbe(ctx context.Context, handler string, now time.Time, window time.Duration) (after hookgate.CircuitStatus, ok bool, err error) {
	var before hookgate.CircuitStatus
	err = db.changeCircuit(ctx, handler, func(s hookgate.CircuitStatus) (hookgate.CircuitStatus, bool) {
		s, ok = s.Probe(now, window)
		return s, ok
	}, &before, &after)
	if err != nil {
		return after, false, fmt.Errorf("probe circuit of handler %s: %w", handler, err)
	}
	return after, ok, nil
}

// changeCircuit reads handler's circuit (locking its row on PostgreSQL),
// applies change and, when change says so, writes the result, all in one
// transaction of the group commit.
func (db *DB) changeCircuit(ctx context.Context, handler string,
	change func(hookgate.CircuitStatus) (hookgate.CircuitStatus, bool), before, after *hookgate.CircuitStatus) error {
	return db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cur := hookgate.CircuitStatus{Handler: handler, State: hookgate.CircuitClosed}
		if db.d.dollar {
			// A row to lock, so that concurrent first failures on several
			// instances count one after the other instead of both finding
			// nothing. SQLite has one writer at a time already.
			if _, err := tx.ExecContext(ctx, `INSERT INTO circuits (handler, state, consecutive_failures, opened_at, retry_at, version)
				VALUES ($1, 'closed', 0, 0, 0, 0) ON CONFLICT (handler) DO NOTHING`, handler); err != nil {
				return err
			}
		}
		row := tx.QueryRowContext(ctx, db.d.q(`SELECT handler, state, consecutive_failures, opened_at, retry_at, version
			FROM circuits WHERE handler = ?`+db.d.lockRows), handler)
		switch s, err := scanCircuit(row); {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		default:
			cur = s
		}
		next, write := change(cur)
		*before, *after = cur, next
		if !write {
			return nil
		}
		_, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO circuits
			(handler, state, consecutive_failures, opened_at, retry_at, version) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (handler) DO UPDATE SET state = excluded.state,
				consecutive_failures = excluded.consecutive_failures, opened_at = excluded.opened_at,
				retry_at = excluded.retry_at, version = excluded.version`),
			handler, string(next.State), next.ConsecutiveFailures, zeroMicros(next.OpenedAt), zeroMicros(next.RetryAt), next.Version)
		return err
	})
}

// Expedite implements hookgate.CircuitStore. The due index's range after now
// holds the jobs that wait (retries and deferrals); those whose reason
// matches are moved to now.
func (db *DB) Expedite(ctx context.Context, reason string, now time.Time) (int64, error) {
	at := micros(now)
	n, err := db.write1(ctx, `UPDATE receipts SET next_attempt_at = ? WHERE next_attempt_at IS NOT NULL AND next_attempt_at > ?
		AND reason = ? AND (lease_until IS NULL OR lease_until < ?)`, at, at, reason, at)
	if err != nil {
		return 0, fmt.Errorf("expedite receipts waiting for %q: %w", reason, err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCircuit(row scanner) (hookgate.CircuitStatus, error) {
	var (
		s                 hookgate.CircuitStatus
		state             string
		openedAt, retryAt int64
	)
	if err := row.Scan(&s.Handler, &state, &s.ConsecutiveFailures, &openedAt, &retryAt, &s.Version); err != nil {
		return s, err
	}
	s.State = hookgate.CircuitState(state)
	if openedAt != 0 {
		s.OpenedAt = fromMicros(openedAt)
	}
	if retryAt != 0 {
		s.RetryAt = fromMicros(retryAt)
	}
	return s, nil
}

func zeroMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}
