package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
// 16–18 MiB, which a nearly full disk may not have; and on a full disk the
// checkpoints fail too (they must grow the database file), so every freed
// MiB goes to the WAL again and nothing is folded. Measured on a 32 MiB
// tmpfs filled under load (e2e TestFullDisk): without what follows, 7 MiB
// and in another run all 27 MiB of the filler had to be freed before a
// burst of 200 deliveries went through whole, and the WAL stood at 23–32
// MiB after recovery; with it, 1–2 MiB, and the WAL under 0.3 MiB.
// Therefore:
//
//   - After a failed write, before its next batch, the write lane folds the
//     WAL into the database file and truncates it to zero bytes (a TRUNCATE
//     checkpoint). While that fails on a full disk, it answers the batch
//     with that error instead of running it, trying again at most every
//     checkpointEvery: a commit would take for the WAL the very space the
//     checkpoint needs to grow the database file. Once the checkpoint
//     succeeds, the space the WAL held returns to the file system and
//     writes go on.
//   - While the file system holding the database has less than walRoom
//     free (the checkpointer looks at each round), the write lane truncates
//     the WAL after any batch that leaves the file over walTightBytes,
//     instead of rewinding it at walRestartFrames: more checkpoints, and a
//     stat of the WAL file per batch, but a WAL that fits where the disk is
//     short. (The checkpointer alone would look too late: at a few writes per
//     commit, each commit appends several pages, and a burst of deliveries
//     grows the WAL by MiBs between two of its rounds.)
//
// Checkpoint warnings are logged at most every warnEvery: on a full disk
// every attempt fails.
var (
	checkpointEvery  = 200 * time.Millisecond
	walRestartFrames = 4096 // 16 MiB of 4 KiB pages
	walTightBytes    = int64(1 << 20)
	walRoom          = int64(2 * walRestartFrames * 4096)
	warnEvery        = 10 * time.Second
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
	wal      string      // the WAL file's path
	restart  atomic.Bool // the WAL is long: rewind it between batches
	optimize atomic.Bool // refresh planner statistics between batches
	// fold: a write failed since the WAL was last folded and truncated
	// (beforeBatch); short: the disk is short, keep the WAL small
	// (afterBatch); tried is when the write lane last tried to truncate,
	// and foldErr why the last fold failed (both the lane's own).
	fold     atomic.Bool
	short    atomic.Bool
	tried    time.Time
	foldErr  error
	lastWarn atomic.Int64
	log      *slog.Logger
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	closed   sync.Once
}

func newCheckpointer(db *sql.DB, path string) *checkpointer {
	c := &checkpointer{db: db, wal: path + "-wal", log: slog.Default(), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// writeFailed notes a failed write: the WAL is folded before the next batch.
func (c *checkpointer) writeFailed() { c.fold.Store(true) }

// beforeBatch runs on the write lane before each batch. After a failed write
// it folds the WAL into the database file and truncates it; while that fails
// because the disk is full, it returns the error, and the batch is answered
// with it without running (see above).
func (c *checkpointer) beforeBatch(w *sql.DB) error {
	if !c.fold.Load() {
		return nil
	}
	if time.Since(c.tried) < checkpointEvery {
		return c.foldErr
	}
	c.tried = time.Now()
	busy, _, err := c.checkpoint(w, "TRUNCATE")
	switch {
	case err != nil && diskFull(err):
		c.foldErr = fmt.Errorf("fold the WAL into the database: %w", err)
		c.warn("sqlite checkpoint before writing; refusing writes until it succeeds", "mode", "TRUNCATE", "err", err)
		return c.foldErr
	case err != nil:
		// Not a matter of space (a lock held elsewhere, a read-only file):
		// the batch may well succeed, and will say if not.
		c.warn("sqlite checkpoint before writing", "mode", "TRUNCATE", "err", err)
	case busy:
		// A reader holds frames: after the next batch.
	default:
		c.fold.Store(false)
		c.restart.Store(false)
		c.log.Info("sqlite WAL folded into the database and truncated after a failed write")
	}
	c.foldErr = nil
	return nil
}

// afterBatch runs on the write lane after each batch was answered: it tells
// the checkpointer that the WAL grew and, when asked to, rewinds the WAL on
// the write connection w, or truncates it while the disk is short.
func (c *checkpointer) afterBatch(w *sql.DB) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if c.short.Load() && time.Since(c.tried) >= checkpointEvery/10 {
		if st, err := os.Stat(c.wal); err == nil && st.Size() > walTightBytes {
			c.tried = time.Now()
			switch busy, _, err := c.checkpoint(w, "TRUNCATE"); {
			case err != nil:
				c.warn("sqlite checkpoint", "mode", "TRUNCATE", "err", err)
			case !busy:
				c.restart.Store(false)
			}
		}
	}
	if c.restart.CompareAndSwap(true, false) {
		if _, _, err := c.checkpoint(w, "RESTART"); err != nil {
			c.warn("sqlite checkpoint", "mode", "RESTART", "err", err)
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
		free, ok := freeSpace(filepath.Dir(c.wal))
		c.short.Store(ok && free < walRoom)
		if err == nil && frames > walRestartFrames {
			c.restart.Store(true)
		}
		if err != nil {
			// The writer's WAL keeps every commit durable; a failed
			// checkpoint only delays folding it. Try again later.
			c.warn("sqlite checkpoint", "mode", "PASSIVE", "err", err)
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

// warn logs a checkpoint warning, at most one every warnEvery.
func (c *checkpointer) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := c.lastWarn.Load()
	if now-last < int64(warnEvery) || !c.lastWarn.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(msg, args...)
}

func (c *checkpointer) close() error {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
