package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	hookgate "github.com/hookgate/hookgate"
)

// Write health.
//
// A ping does not see a full disk: SQLite opens and reads while every commit
// fails with "database or disk is full", and so does a PostgreSQL whose data
// disk is full. Readiness must, so the batcher records the outcome of each
// batch (one atomic load, and a store only when the outcome changes), and
// Ping fails while the latest batch that did anything failed and none
// succeeded since.
//
// What counts: a batch succeeded if it committed a write that needed the disk
// (a receipt, a completion, a claim that leased something, a probe); it
// failed if it committed nothing and one of its writes failed on a storage
// error, or was refused before it ran (SQLite's checkpointer refuses batches
// while the WAL cannot be folded on a full disk, checkpoint.go). A refusal of
// one write (a lease lost, a receipt in flight) and a claim that found
// nothing say nothing either way: with the disk full, an empty claim still
// commits, and the dispatcher polls several times a second.
//
// With no traffic nothing would write again, and readiness would stay 503
// after the disk has room. So while writes are failing, a prober writes a
// tiny probe every probeEvery (an idempotency key no delivery can have,
// inserted and deleted in one transaction: a real write on both databases,
// which leaves nothing behind) until one commits.

// probeEvery is how often the prober writes while writes are failing;
// logEvery bounds the log lines of failures that come and go (a disk at the
// edge of full), one run of failures and its end a logEvery.
var (
	probeEvery = time.Second
	logEvery   = 10 * time.Second
)

// probeKey is the idempotency key of the write probe. Delivery keys start
// with their connection's name (ingress.IdempotencyKey), and keys of
// deliveries without one with a NUL byte: none starts with \x01.
const probeKey = "\x01hookgate write probe"

// writeHealth holds the outcome of the latest writes of one DB.
type writeHealth struct {
	// failingSince is the unix nanosecond time of the first failed batch
	// since the last successful one; zero while writes succeed.
	failingSince atomic.Int64
	// lastFailure is the latest failure: when and why.
	lastFailure atomic.Pointer[writeFailure]
	// failures counts the write requests that failed on a storage error.
	failures atomic.Int64
	// logged is the failingSince of the last run of failures that was
	// logged: at most one every logEvery, and its end only.
	logged atomic.Int64

	// onFailure, when set, runs after a failed batch (SQLite's
	// checkpointer: fold the WAL before the next batch).
	onFailure func()
	kick      chan struct{} // wakes the prober
	stop      chan struct{}
	done      chan struct{}
	closed    sync.Once
}

type writeFailure struct {
	at  time.Time
	err error
}

func newWriteHealth() *writeHealth {
	return &writeHealth{kick: make(chan struct{}, 1)}
}

// record notes the outcome of a batch: err is the batch's own error (BEGIN or
// COMMIT), and each request's err its own.
func (h *writeHealth) record(reqs []*writeReq, err error) {
	if h == nil {
		return
	}
	var (
		wrote  bool
		failed int64
		cause  error
	)
	if err != nil {
		failed, cause = int64(len(reqs)), err
	} else {
		for _, r := range reqs {
			switch {
			case r.err == nil:
				wrote = wrote || r.wrote()
			case refusal(r.err):
			default:
				failed++
				cause = r.err
			}
		}
	}
	if failed > 0 {
		h.failures.Add(failed)
	}
	switch {
	case wrote:
		if since := h.failingSince.Load(); since != 0 && h.failingSince.CompareAndSwap(since, 0) && h.logged.Load() == since {
			slog.Default().Info("storage writes succeed again; readiness reports ready",
				"failing_for", time.Since(time.Unix(0, since)).Round(time.Millisecond))
		}
	case failed > 0:
		now := time.Now()
		h.lastFailure.Store(&writeFailure{at: now, err: cause})
		if since := now.UnixNano(); h.failingSince.CompareAndSwap(0, since) {
			if last := h.logged.Load(); since-last >= int64(logEvery) && h.logged.CompareAndSwap(last, since) {
				slog.Default().Error("storage writes failing; readiness reports 503 until one succeeds",
					"cause", describe(cause), "err", cause)
			}
		}
		if h.onFailure != nil {
			h.onFailure()
		}
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// wrote reports whether r, which succeeded, committed a write that needed the
// disk.
func (r *writeReq) wrote() bool {
	switch {
	case r.ins != nil, r.complete != nil, r.probe:
		return true
	case r.claim != nil:
		return len(r.claim.out) > 0
	}
	return false
}

// refusal reports whether err is an operation's refusal, which wrote nothing
// and says nothing about storage.
func refusal(err error) bool {
	_, ok := err.(*hookgate.Error)
	return ok
}

// err returns the error Ping reports while writes are failing, or nil.
func (h *writeHealth) err() error {
	if h.failingSince.Load() == 0 {
		return nil
	}
	f := h.lastFailure.Load()
	if f == nil {
		return nil
	}
	return &hookgate.Error{
		Code: hookgate.EUnavailable,
		Message: fmt.Sprintf("last write failed %s ago and none succeeded since: %s",
			time.Since(f.at).Round(time.Second), describe(f.err)),
		Err: f.err,
	}
}

// diskFull reports whether err says the disk is full.
func diskFull(err error) bool {
	var (
		se *sqlite.Error
		pe *pgconn.PgError
	)
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL ||
		errors.As(err, &pe) && pe.Code == "53100"
}

// describe names the cause of a write failure in words safe for an
// unauthenticated caller (readyz): no path, host, user or query.
func describe(err error) string {
	var (
		se *sqlite.Error
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case diskFull(err):
		return "disk is full"
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_IOERR:
			return "disk I/O error"
		case sqlite3.SQLITE_READONLY:
			return "database is read-only"
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return "database is locked"
		}
		return fmt.Sprintf("SQLite error %d", se.Code())
	case errors.As(err, &pe):
		return "PostgreSQL error " + pe.Code
	case errors.As(err, &ce), errors.As(err, &ne):
		return "database unreachable"
	case errors.Is(err, context.DeadlineExceeded):
		return "write timed out"
	case errors.Is(err, errClosed):
		return "store is closed"
	}
	return "write failed"
}

// startProber runs the prober of db until stopProber.
func (h *writeHealth) startProber(db *DB) {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.probe(db)
}

func (h *writeHealth) probe(db *DB) {
	defer close(h.done)
	for {
		select {
		case <-h.stop:
			return
		case <-h.kick:
		}
		for h.failingSince.Load() != 0 {
			select {
			case <-h.stop:
				return
			case <-time.After(probeEvery):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = db.submit(ctx, &writeReq{fn: db.writeProbe, probe: true, done: make(chan struct{}, 1)})
			cancel()
		}
	}
}

// writeProbe writes the probe row and deletes it: a write the disk must
// take, which leaves nothing behind.
func (db *DB) writeProbe(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO idempotency_keys (key, receipt_id, expires_at) VALUES (?, '', 0)`), probeKey); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM idempotency_keys WHERE key = ?`), probeKey)
	return err
}

func (h *writeHealth) stopProber() {
	if h.stop == nil {
		return
	}
	h.closed.Do(func() { close(h.stop) })
	<-h.done
}

// WriteFailures returns how many writes failed on a storage error since the
// store opened (hookgate_storage_write_failures_total).
func (db *DB) WriteFailures() int64 { return db.health.failures.Load() }
