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
//
// The WAL file keeps its largest size: a RESTART only rewinds it, and SQLite
// then overwrites it from the start. So its footprint under load is
// walRestartFrames and what the load adds before the RESTART runs, about
// 16–18 MiB, which a nearly full disk may not have: on a full disk the
// checkpoints fail too (they must grow the database file), the WAL keeps what
// it had grown to, and once space returns the load grows it again towards
// walRestartFrames. Measured on a 32 MiB tmpfs without what follows: the WAL
// stood at 15–29 MiB after recovery, and a second of load needed 9–20 MiB
// freed before it went through without a 503. Therefore:
//
//   - After a failed write, the first batch that commits again is followed
//     by a TRUNCATE checkpoint (a RESTART that also truncates the WAL file to
//     zero bytes), retried at most every checkpointEvery until it succeeds:
//     the space the WAL held returns to the file system at once.
//   - While the file system holding the database has less than walRoom
//     free, the WAL is truncated whenever it holds more than walTightFrames,
//     instead of rewound at walRestartFrames: more checkpoints, but a WAL
//     that fits where the disk is short.
var (
	checkpointEvery  = 200 * time.Millisecond
	walRestartFrames = 4096 // 16 MiB of 4 KiB pages
	walTightFrames   = 256  // 1 MiB
	walRoom          = int64(2 * walRestartFrames * 4096)
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
	dir      string      // holds the database file, for its free space
	restart  atomic.Bool // the WAL is long: rewind it between batches
	optimize atomic.Bool // refresh planner statistics between batches
	// truncate: a write failed since the WAL was last truncated, or the disk
	// is short and the WAL long; truncated is when the write lane last
	// tried (the lane's own, unsynchronised).
	truncate  atomic.Bool
	truncated time.Time
	log       *slog.Logger
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closed    sync.Once
}

func newCheckpointer(db *sql.DB, dir string) *checkpointer {
	c := &checkpointer{db: db, dir: dir, log: slog.Default(), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// writeFailed notes a failed write: once writes succeed again, the WAL is
// truncated.
func (c *checkpointer) writeFailed() { c.truncate.Store(true) }

// afterBatch runs on the write lane after each batch was answered: it tells
// the checkpointer that the WAL grew and, when asked to, rewinds the WAL on
// the write connection w, or truncates it: once writes succeed after a
// failure (h), or while the disk is short.
func (c *checkpointer) afterBatch(w *sql.DB, h *writeHealth) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if c.truncate.Load() && h.failingSince.Load() == 0 && time.Since(c.truncated) >= checkpointEvery {
		c.truncated = time.Now()
		switch busy, _, err := c.checkpoint(w, "TRUNCATE"); {
		case err != nil:
			c.log.Warn("sqlite checkpoint; retrying", "mode", "TRUNCATE", "err", err)
		case busy:
			// A reader holds frames: after the next batch.
		default:
			c.truncate.Store(false)
			c.restart.Store(false)
		}
	}
	if c.restart.CompareAndSwap(true, false) {
		if _, _, err := c.checkpoint(w, "RESTART"); err != nil {
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
		_, frames, err := c.checkpoint(c.db, "PASSIVE")
		switch free, ok := freeSpace(c.dir); {
		case err != nil:
		case ok && free < walRoom && frames > walTightFrames:
			c.truncate.Store(true)
		case frames > walRestartFrames:
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

// checkpoint runs one checkpoint and returns whether it could not complete
// (busy: a reader or writer held frames it needed) and how many frames the
// WAL holds.
func (c *checkpointer) checkpoint(db *sql.DB, mode string) (busy bool, frames int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b, logFrames, copied int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &logFrames, &copied)
	return b != 0, logFrames, err
}

func (c *checkpointer) close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
