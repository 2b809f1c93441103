package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// prunable are the statuses retention deletes once a receipt is older than
// retention_days: the receipts done with dispatch. A receipt with a job
// (received, failed, one in flight under a lease) has next_attempt_at set
// and is never pruned, whatever its age: it is still to be delivered. Held
// receipts wait for their connection or handler to resume (SPEC §4.2:
// nothing is dropped by configuration), so they are kept too.
var prunable = []hookgate.Status{
	hookgate.StatusAcknowledged, hookgate.StatusDead, hookgate.StatusFiltered, hookgate.StatusDuplicate,
	hookgate.StatusRejected, hookgate.StatusHandshake,
}

// PruneReceipts implements hookgate.Store. Each transaction deletes the oldest
// pruneRows receipts of one status through the status index (whose rows are
// exactly the receipts without a job), with their bodies, then rests
// prunePause, so that a large backlog is pruned between ingest's commits
// rather than in one long write. Attempts and history are lines of the
// receipt's row and go with it. Idempotency keys have their own expiry
// (PruneIdempotencyKeys): a key outlives its receipt when the key's TTL is
// longer than the retention.
func (db *DB) PruneReceipts(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, status := range prunable {
		for {
			var n int
			err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
				ids, seqs, err := db.oldReceipts(ctx, tx, status, micros(before))
				n = len(ids)
				if err != nil || n == 0 {
					return err
				}
				return db.deleteReceipts(ctx, tx, ids, seqs)
			})
			if err != nil {
				return total, fmt.Errorf("prune %s receipts: %w", status, err)
			}
			total += int64(n)
			if n < pruneRows {
				break
			}
			if err := rest(ctx); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// oldReceipts returns the oldest pruneRows receipts of status received before
// before, without a job or lease. On PostgreSQL it locks them, passing over
// rows locked by another instance's pruning or by a concurrent admit.
func (db *DB) oldReceipts(ctx context.Context, tx *sql.Tx, status hookgate.Status, before int64) (ids []string, seqs []int64, err error) {
	rows, err := tx.QueryContext(ctx, db.d.q(`SELECT id, seq FROM receipts
		WHERE status = ? AND next_attempt_at IS NULL AND received_at < ? AND lease_owner IS NULL
		ORDER BY received_at, seq LIMIT ?`+db.d.skipLocked), string(status), before, pruneRows)
	if err != nil {
		return nil, nil, fmt.Errorf("select old receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			seq int64
		)
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, nil, fmt.Errorf("select old receipts: %w", err)
		}
		ids, seqs = append(ids, id), append(seqs, seq)
	}
	return ids, seqs, rows.Err()
}

// deleteReceipts deletes the receipts ids and their bodies (seqs) in tx:
// what both the rejected budget and retention drop whole.
func (db *DB) deleteReceipts(ctx context.Context, tx *sql.Tx, ids []string, seqs []int64) error {
	if err := db.execIn(ctx, tx, `DELETE FROM bodies WHERE `, "seq", seqs); err != nil {
		return fmt.Errorf("delete bodies: %w", err)
	}
	if err := db.execIn(ctx, tx, `DELETE FROM replies WHERE `, "seq", seqs); err != nil {
		return fmt.Errorf("delete replies: %w", err)
	}
	if err := db.execIn(ctx, tx, `DELETE FROM receipts WHERE `, "id", ids); err != nil {
		return fmt.Errorf("delete receipts: %w", err)
	}
	return nil
}
