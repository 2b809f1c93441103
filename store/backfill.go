package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// StoredNonces reports which of nonces the connection holds as an accepted
// delivery (any status but rejected or handshake) received at or after
// since. It reads the connection's receipts of that window once, in one
// pass, and keeps nothing but the answer: the set asked about bounds the
// memory, and no index is added to the ingest path for it.
func (db *DB) StoredNonces(ctx context.Context, connection string, since time.Time, nonces []string) (map[string]bool, error) {
	want := make(map[string]bool, len(nonces))
	for _, n := range nonces {
		want[n] = false
	}
	out := make(map[string]bool)
	if len(want) == 0 {
		return out, nil
	}
	rows, err := db.read.QueryContext(ctx, db.d.q(`SELECT nonce FROM receipts
		WHERE connection = ? AND received_at >= ? AND status NOT IN ('rejected', 'handshake')`), connection, micros(since))
	if err != nil {
		return nil, fmt.Errorf("read nonces of %s: %w", connection, err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read nonces of %s: %w", connection, err)
		}
		if _, ok := want[n]; ok {
			out[n] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read nonces of %s: %w", connection, err)
	}
	return out, nil
}

// TakeBackfillLease gives owner the right to run the connection's background
// backfill until until, if no other owner holds an unexpired lease on it at
// now, and reports whether owner holds it. Several processes sharing a
// PostgreSQL database call it before each run, so one runs at a time; the
// row's unique key decides, never a check before the write.
func (db *DB) TakeBackfillLease(ctx context.Context, connection, owner string, now, until time.Time) (bool, error) {
	var holder string
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, db.d.q(`INSERT INTO backfill_leases AS old (connection, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (connection) DO UPDATE SET
			owner = CASE WHEN old.owner = excluded.owner OR old.expires_at <= ? THEN excluded.owner ELSE old.owner END,
			expires_at = CASE WHEN old.owner = excluded.owner OR old.expires_at <= ? THEN excluded.expires_at ELSE old.expires_at END
			RETURNING owner`), connection, owner, micros(until), micros(now), micros(now)).Scan(&holder)
	})
	if err != nil {
		return false, fmt.Errorf("take backfill lease of %s: %w", connection, err)
	}
	return holder == owner, nil
}
