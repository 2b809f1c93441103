package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints off the write path.
//
// SQLite appends every commit to the WAL and, by default, the committing
// connection folds the WAL back into the database file (a checkpoint) once it
// holds 1000 pages: the commit that crosses the line writes several MiB and
// fsyncs the database file before it returns, and every request of its group
// commit waits for that. The writer therefore runs with wal_autocheckpoint=0
// and this goroutine checkpoints from its own connection instead:
//
//   - PASSIVE after commits, at most every checkpointEvery: it copies the
//     frames committed so far and fsyncs the database file while the writer
//     goes on appending (WAL mode allows one checkpointer beside one writer).
//   - RESTART when the WAL holds more than walRestartFrames frames. Under
//     continuous load a passive checkpoint never catches up exactly, so the
//     writer never gets the chance to rewind the WAL and it would grow
//     without bound. A RESTART from this connection would wait for a moment
//     without a writer, which a busy group commit never leaves, so the
//     checkpointer only raises a flag and the batcher runs the RESTART on
//     the write connection between two batches (after answering the first):
//     it copies the few frames the passive checkpoints have not, and the
//     next commit starts the WAL from its beginning.
//
// Durability is unchanged: a commit is durable once its WAL frames are
// fsynced (synchronous=FULL), and a checkpoint only copies durable frames.
var (
	checkpointEvery  = 200 * time.Millisecond
	walRestartFrames = 4096 // 16 MiB of 4 KiB pages
	optimizeEvery    = time.Hour
)

// Planner statistics. SQLite chooses indexes from sqlite_stat1; without it a
// listing of one connection by status may go through the all-connections
// status index and scan a million rows (0.6 s) instead of the
// (connection, status) index (0.2 ms). PRAGMA optimize runs ANALYZE only on
// tables whose size changed a lot since the last one (else it costs
// milliseconds), and analysis_limit bounds each ANALYZE to sampling (about
// 1 s on a million receipts). It runs when the store opens, before any
// write, and then hourly on the write lane between two batches.
const (
	sqliteOptimizeOnOpen = "PRAGMA analysis_limit=400; PRAGMA optimize=0x10002"
	sqliteOptimize       = "PRAGMA analysis_limit=400; PRAGMA optimize"
)

type checkpointer struct {
	db       *sql.DB
	restart  atomic.Bool // the WAL is long: rewind it between batches
	optimize atomic.Bool // refresh planner statistics between batches
	log      *slog.Logger
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	closed   sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, log: slog.Default(), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// afterBatch runs on the write lane after each batch was answered: it tells
// the checkpointer that the WAL grew and, when asked to, rewinds the WAL on
// the write connection w.
func (c *checkpointer) afterBatch(w *sql.DB) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if c.restart.CompareAndSwap(true, false) {
		if _, err := c.checkpoint(w, "RESTART"); err != nil {
			c.log.Warn("sqlite checkpoint", "mode", "RESTART", "err", err)
		}
	}
	if c.optimize.CompareAndSwap(true, false) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := w.ExecContext(ctx, sqliteOptimize); err != nil {
			c.log.Warn("sqlite optimize", "err", err)
		}
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	optimized := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		if time.Since(optimized) >= optimizeEvery {
			optimized = time.Now()
			c.optimize.Store(true)
		}
		frames, err := c.checkpoint(c.db, "PASSIVE")
		if err == nil && frames > walRestartFrames {
			c.restart.Store(true)
		}
		if err != nil {
			// The writer's WAL keeps every commit durable; a failed
			// checkpoint only delays folding it. Try again later.
			c.log.Warn("sqlite checkpoint", "err", err)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpoint runs one checkpoint and returns how many frames the WAL holds.
func (c *checkpointer) checkpoint(db *sql.DB, mode string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, logFrames, copied int
	err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &copied)
	return logFrames, err
}

func (c *checkpointer) close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
