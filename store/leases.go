package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// counted is 1 when a completion counts as an attempt, 0 for a deferred one.
func counted(c hookgate.Completion) int {
	if c.Deferred {
		return 0
	}
	return 1
}

// renewSQLite extends the leases owner still holds among a JSON array of ids
// and answers the ids it extended. The id index finds each row.
const renewSQLite = `UPDATE receipts SET lease_until = ?1
	WHERE id IN (SELECT value FROM json_each(?3)) AND lease_owner = ?2
	RETURNING id`

// renewPostgres is renewSQLite over an array. lease_until is not indexed, so
// the new row versions are HOT updates.
const renewPostgres = `UPDATE receipts SET lease_until = $1
	WHERE id = ANY($3::text[]) AND lease_owner = $2
	RETURNING id`

// RenewLeases implements hookgate.Store: one statement, in the write lane
// with every other write, whatever the number of ids.
func (db *DB) RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if owner == "" {
		return nil, hookgate.Errorf(hookgate.EInvalid, "renew leases: owner is required")
	}
	var held map[string]bool
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		held = make(map[string]bool, len(ids)) // the batch may run this again
		var (
			rows *sql.Rows
			err  error
		)
		if db.d.dollar {
			rows, err = tx.QueryContext(ctx, renewPostgres, micros(until), owner, ids)
		} else {
			list, _ := json.Marshal(ids)
			rows, err = tx.QueryContext(ctx, renewSQLite, micros(until), owner, string(list))
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			held[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	var lost []string
	for _, id := range ids {
		if !held[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// TakeOverLeases implements hookgate.Store. A SQLite file belongs to one
// process (its single writer), so any lease in it that is not owner's was
// left by a process that ended without completing the job: releasing it
// makes the job due at once (its next_attempt_at is already past) instead
// of after the lease. On PostgreSQL it releases nothing.
func (db *DB) TakeOverLeases(ctx context.Context, owner string) (int64, error) {
	if db.d.dollar {
		return 0, nil
	}
	var n int64
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE receipts SET lease_owner = NULL, lease_until = NULL
			WHERE next_attempt_at IS NOT NULL AND lease_owner IS NOT NULL AND lease_owner <> ?`, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("take over leases: %w", err)
	}
	return n, nil
}
