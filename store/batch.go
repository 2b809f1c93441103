package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// Group commit.
//
// A durable commit costs a disk flush (SQLite synchronous=FULL fsyncs the WAL;
// PostgreSQL with synchronous_commit=on flushes its WAL), and a disk flushes a
// few thousand times a second at best. Ingest, Record, Claim and Complete
// therefore do not commit alone: each hands its writes to a batcher, which runs
// the writes of all requests waiting at that moment in one transaction and
// commits once. Every caller is answered only after the commit that holds its
// writes returned, so a 2xx still means "on disk".
//
// The batch needs no timer. When the gateway is idle, the first request finds
// the batcher waiting and commits at once, alone: no added latency. Requests
// that arrive while a commit is in flight queue up and form the next batch,
// which closes when the queue is empty or holds maxBatch requests. The batch
// size therefore follows the load: one under light load, tens under heavy
// load, and the flush rate of the disk stops being the request rate.
//
// A failed write fails only its own request: the transaction rolls back, the
// failing request gets its error, and the others run again in a new
// transaction (a write function may therefore run more than once, and must
// reset what it reports at its start). A failed BEGIN or COMMIT fails every
// request of the batch, which then answer 503 upstream.

// maxBatch bounds the requests sharing one transaction, so that one commit's
// latency (and the memory of the bodies it holds) stays bounded.
const maxBatch = 256

// batchTimeout bounds one batch transaction: the statements of a batch run
// under the batcher's context, not their callers' (cancelling one caller's
// statement would abort the whole transaction on both databases).
const batchTimeout = time.Minute

// writeFunc runs one request's writes in the batch transaction, with the
// batch's context. It returns a *hookgate.Error, unwrapped, only before it has
// written anything: such an error fails the request without rolling back the
// others' writes.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

// Request states: the caller may abandon a request (its context ended) only
// while it is still queued; once the batcher took it, the caller waits for its
// result, so a write never runs after its caller returned.
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

type writeReq struct {
	ctx   context.Context
	fn    writeFunc
	state atomic.Int32
	err   error
	done  chan struct{}
}

var writeReqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

// batcher runs the write requests of one DB. lanes goroutines each take a
// batch from the shared queue: one on SQLite (one writer at a time anyway),
// several on PostgreSQL, whose server runs concurrent transactions in parallel
// and shares WAL flushes among them.
type batcher struct {
	db   *sql.DB
	reqs chan *writeReq

	mu     sync.RWMutex // held for reading while enqueueing; Close takes it to close reqs
	closed bool
	wg     sync.WaitGroup

	// afterBatch, when set, runs on the lane after each batch was answered
	// (SQLite's checkpointer, checkpoint.go).
	afterBatch func()

	// Counters for tests and benchmarks.
	enqueued, batches, requests atomic.Int64
}

func newBatcher(db *sql.DB, lanes int, afterBatch func()) *batcher {
	b := &batcher{db: db, reqs: make(chan *writeReq, 4*maxBatch), afterBatch: afterBatch}
	for range max(lanes, 1) {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

var errClosed = errors.New("store is closed")

// do runs fn in the next batch and returns its error once the batch committed
// (or fn failed). An error means fn's writes are not stored.
func (b *batcher) do(ctx context.Context, fn writeFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := writeReqPool.Get().(*writeReq)
	r.ctx, r.fn, r.err = ctx, fn, nil
	r.state.Store(reqQueued)

	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		writeReqPool.Put(r)
		return errClosed
	}
	b.reqs <- r
	b.mu.RUnlock()
	b.enqueued.Add(1)

	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			// The batcher will drop it; r is not reused.
			return ctx.Err()
		}
		<-r.done // taken: its writes may be committing; wait for the truth
	}
	err := r.err
	r.ctx, r.fn, r.err = nil, nil, nil
	writeReqPool.Put(r)
	return err
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		r, ok := <-b.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.commit(batch)
		clear(batch)
		if b.afterBatch != nil {
			b.afterBatch()
		}
	}
}

// commit runs the live requests of batch in one transaction, re-running the
// others whenever one fails.
func (b *batcher) commit(batch []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			live = append(live, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for len(live) > 0 {
		failed, err := b.try(ctx, live)
		if failed < 0 {
			if err != nil {
				err = fmt.Errorf("group commit of %d writes: %w", len(live), err)
			}
			for _, r := range live {
				finish(r, err)
			}
			b.batches.Add(1)
			b.requests.Add(int64(len(live)))
			return
		}
		finish(live[failed], err)
		live = append(live[:failed], live[failed+1:]...)
	}
}

// try runs live in one transaction. It returns the index of the first request
// whose write failed with that error (the transaction rolled back), or -1
// with the result of BEGIN/COMMIT. Requests that fail before writing
// (unwrapped *hookgate.Error) are answered at once and taken out of live.
func (b *batcher) try(ctx context.Context, live []*writeReq) (int, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return -1, err
	}
	for i := 0; i < len(live); i++ {
		r := live[i]
		err := r.fn(ctx, tx)
		if err == nil {
			continue
		}
		if _, ok := err.(*hookgate.Error); ok {
			// Refused before writing (e.g. a lost lease): the transaction
			// is intact. Answer after the commit like the others, so the
			// answer never overtakes writes it may have read.
			r.err = err
			continue
		}
		tx.Rollback()
		// Clear the answers of refused requests: they run again.
		for _, o := range live {
			o.err = nil
		}
		return i, err
	}
	if err := tx.Commit(); err != nil {
		return -1, err
	}
	return -1, nil
}

// finish answers r: its own refusal if it had one, else err (the batch's).
func finish(r *writeReq, err error) {
	if r.err == nil {
		r.err = err
	}
	r.done <- struct{}{}
}

// close stops accepting requests, runs the queued ones and waits for the
// lanes to stop.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.reqs)
	b.mu.Unlock()
	b.wg.Wait()
}

// BatchStats reports how many group commits ran and how many write requests
// they held, so tests and benchmarks can see the batching.
func (db *DB) BatchStats() (batches, requests int64) {
	if db.batch == nil {
		return 0, 0
	}
	return db.batch.batches.Load(), db.batch.requests.Load()
}

// inBatch runs fn in the next group commit; see batcher.do.
func (db *DB) inBatch(ctx context.Context, fn writeFunc) error {
	if db.batch == nil {
		return db.inTx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
	}
	return db.batch.do(ctx, fn)
}

// preparedQueries are the statements of the write hot path. On SQLite they
// are prepared once on the single write connection, so a batch of a hundred
// ingests does not parse the same INSERT three hundred times. PostgreSQL needs
// none of this: pgx prepares and caches every statement per connection.
var preparedQueries = []string{claimKey, insertReceipt, insertHistory, insertAttempt, completeLeased, insertClaimHistory}

// prepare prepares preparedQueries on SQLite's write connection. It runs
// before the batcher starts: while a batch holds the only write connection,
// preparing on the pool would wait for it forever.
func (db *DB) prepare(ctx context.Context) error {
	if db.d.name != "sqlite" {
		return nil
	}
	db.stmts = make(map[string]*sql.Stmt, len(preparedQueries))
	for _, q := range preparedQueries {
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		db.stmts[q] = st
	}
	return nil
}

// exec runs query (written with ? placeholders) in tx, through its prepared
// statement when there is one.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.d.q(query), args...)
}

// queryRow is exec for a query that returns one row.
func (db *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := db.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.d.q(query), args...)
}
