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
// few thousand times a second at best. Every write of the store therefore goes
// through a batcher, which runs the writes of all requests waiting at that
// moment in one transaction and commits once. Every caller is answered only
// after the commit that holds its writes returned, so a 2xx still means "on
// disk".
//
// The batch needs no fixed timer. When the gateway is idle, the first request
// finds the batcher waiting and commits at once, alone: no added latency. Requests
// that arrive while a commit is in flight queue up and form the next batch,
// which closes when the queue is empty or holds maxBatch requests. The batch
// size therefore follows the load: one under light load, tens under heavy
// load, and the flush rate of the disk stops being the request rate. The one
// wait is for writes known to be on their way (Lingering, below).
//
// Sharing the commit is half of it; the other half is sharing the statements.
// The writes of the hot path are typed operations (insertOp for Ingest and
// Record, claimOp, completeOp), and a batch runs all operations of one kind
// together: the receipts of fifty concurrent ingests are written by one
// multi-row INSERT, not fifty. Everything else (admit, replay, pruning,
// connections) is a writeFunc that runs alone inside the same transaction.
//
// A failed write fails only its own request. When a statement of the batch
// fails, the transaction rolls back and the batch runs again in isolation:
// each operation inside its own savepoint, so the one that fails is rolled
// back to its savepoint and answered with its error, and the others commit.
// An operation may therefore run more than once and must reset what it
// reports at its start. A failed BEGIN or COMMIT fails every request of the
// batch, which then answer 503 upstream.

// maxBatch bounds the requests sharing one transaction, so that one commit's
// latency (and the memory of the bodies it holds) stays bounded.
const maxBatch = 256

// Lingering. A commit has a cost of its own, whatever it holds: on the
// project's machine about half a millisecond of CPU on SQLite (BEGIN, the WAL
// frames of every page it touched, and the kernel's work for the flush),
// against 25–30 µs per write, and on PostgreSQL a round trip and a WAL flush
// on the server. Under load the CPU, not the disk, is what runs out, and small
// batches spend it on commits. So a batch short of lingerTarget may wait a
// moment for more, taking requests as they come — each within lingerGap of
// the last — for at most lingerMax, then commits what it has. It waits when
//
//   - writes are known to be on their way: ingress announces each delivery
//     when it starts reading it (Expect), and the announcement ends when the
//     batcher takes the delivery's write or the delivery is answered without
//     one; or
//   - the batch was taken with company (lingerFloor: two or more requests
//     waiting, the gateway is busy), unless the gateway was just found quiet.
//
// A lone request with nothing announced commits at once, so an idle gateway
// adds no latency, and a busy one at most lingerMax. "Quiet" guards the second
// rule: a Go timer this short overshoots to about a millisecond when the
// process is otherwise idle (the netpoller sleeps in whole milliseconds), and
// at a few connections — every sender already in the batch — each batch ended
// in such a wait. A wait that overshoots by more than overshoot shows that
// nothing was about to come, and the next quietBatches batches linger only
// for announced writes.
//
// Measured with `hookgate bench` (2 KiB bodies, SQLite, 2 runs of 5 s): at 64
// connections, against no lingering, writes per commit 8 → 15 and ingest
// 0.31–0.38 → 0.40–0.45 of the baseline (PostgreSQL 0.28–0.33 → 0.32–0.35); the
// first version (company and the gap only) cost 4 and 16 connections a third
// and a sixth of their throughput (1,625/s and 3,894/s against 2,463/s and
// 4,628/s without lingering), which announcements and "quiet" give back and
// more (2,433–2,581/s and 4,576–5,314/s). Announcements alone do not see the
// deliveries still in the network or in HTTP parsing, which is where most of
// the 64 are: without the company rule writes per commit fell to 8.6. A 2 ms
// wait for 64 did worse than 1.5 ms for 32.
const (
	defaultLingerTarget = 32
	defaultLingerFloor  = 2
	defaultLingerMax    = 1500 * time.Microsecond
	defaultLingerGap    = 250 * time.Microsecond
	overshoot           = 500 * time.Microsecond
	quietBatches        = 8
)

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

// writeReq is one caller's write: exactly one of ins, claim, complete and fn
// is set.
type writeReq struct {
	ctx      context.Context
	ins      *insertOp
	claim    *claimOp
	complete *completeOp
	fn       writeFunc
	// probe marks the write probe of write health (health.go).
	probe bool
	// exp is the announcement of this write, if it had one: the batcher ends
	// it on taking the request from the queue, before it decides whether to
	// wait for more, so a write it holds never counts as one still coming.
	exp *expectation

	state atomic.Int32
	// err is the request's own answer: a refusal (an unwrapped
	// *hookgate.Error, set by the operation) or the failure of its write.
	err  error
	done chan struct{}
}

var writeReqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

// batcher runs the write requests of one DB. lanes goroutines each take a
// batch from the shared queue: one on SQLite (one writer at a time anyway),
// several on PostgreSQL, whose server runs concurrent transactions in parallel
// and shares WAL flushes among them.
type batcher struct {
	db   *DB
	reqs chan *writeReq

	mu     sync.RWMutex // held for reading while enqueueing; Close takes it to close reqs
	closed bool
	wg     sync.WaitGroup

	// beforeBatch, when set, runs on the lane before each batch; its error
	// fails the batch without running it. afterBatch, when set, runs on the
	// lane after each batch was answered. (SQLite's checkpointer,
	// checkpoint.go.)
	beforeBatch func() error
	afterBatch  func()

	// lingerTarget, lingerFloor, lingerMax and lingerGap: see Lingering
	// (tests set them).
	lingerTarget, lingerFloor int
	lingerMax, lingerGap      time.Duration

	// coming counts the announced writes not yet queued (Expect).
	coming atomic.Int64
	// quiet counts down the batches that linger only for announced writes.
	quiet atomic.Int64

	// Counters for tests and benchmarks.
	enqueued, batches, requests atomic.Int64
}

// expectation is one announced write (see Lingering): outstanding until its
// write is queued or its caller withdraws it.
type expectation struct {
	b           *batcher
	outstanding atomic.Bool
}

type expectKey struct{}

// expect announces a write to come with the returned context.
func (b *batcher) expect(ctx context.Context) (context.Context, func()) {
	e := &expectation{b: b}
	e.outstanding.Store(true)
	b.coming.Add(1)
	return context.WithValue(ctx, expectKey{}, e), e.end
}

// take adds r, just received from the queue, to batch and ends its
// announcement: the batcher holds it now. Every receive goes through it.
func take(batch []*writeReq, r *writeReq) []*writeReq {
	if r.exp != nil {
		r.exp.end()
	}
	return append(batch, r)
}

// end withdraws the announcement; only the first call counts.
func (e *expectation) end() {
	if e.outstanding.CompareAndSwap(true, false) {
		e.b.coming.Add(-1)
	}
}

func newBatcher(db *DB, lanes int, beforeBatch func() error, afterBatch func()) *batcher {
	b := &batcher{db: db, reqs: make(chan *writeReq, 4*maxBatch), beforeBatch: beforeBatch, afterBatch: afterBatch,
		lingerTarget: defaultLingerTarget, lingerFloor: defaultLingerFloor, lingerMax: defaultLingerMax, lingerGap: defaultLingerGap}
	for range max(lanes, 1) {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

var errClosed = errors.New("store is closed")

// do queues r (its operation set by the caller) for the next batch and
// returns its error once the batch committed (or r failed). An error means
// r's writes are not stored.
func (b *batcher) do(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ctx, r.err = ctx, nil
	r.exp, _ = ctx.Value(expectKey{}).(*expectation)
	r.state.Store(reqQueued)

	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return errClosed
	}
	b.reqs <- r
	b.mu.RUnlock()
	b.enqueued.Add(1)

	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			// The batcher will drop it.
			return ctx.Err()
		}
		<-r.done // taken: its writes may be committing; wait for the truth
	}
	return r.err
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*writeReq, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		r, ok := <-b.reqs
		if !ok {
			return
		}
		batch = take(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break fill
				}
				batch = take(batch, r)
			default:
				break fill
			}
		}
		floor := b.lingerFloor
		if b.quiet.Load() > 0 {
			b.quiet.Add(-1)
			floor = maxBatch + 1
		}
		if len(batch) < b.lingerTarget && b.worthWaiting(len(batch), floor) {
			batch = b.linger(batch, floor, linger)
		}
		b.commit(batch)
		clear(batch)
		if b.afterBatch != nil {
			b.afterBatch()
		}
	}
}

// worthWaiting reports whether a batch of n may wait for more: announced
// writes are on their way, or it was taken with company (floor).
func (b *batcher) worthWaiting(n, floor int) bool { return b.coming.Load() > 0 || n >= floor }

// linger adds to batch the requests that keep arriving, each within lingerGap
// of the one before, for at most lingerMax, until it holds lingerTarget — as
// long as announced writes are outstanding or the batch holds floor requests
// (see Lingering).
func (b *batcher) linger(batch []*writeReq, floor int, t *time.Timer) []*writeReq {
	last := time.Now()
	deadline := last.Add(b.lingerMax)
	for len(batch) < b.lingerTarget {
		select {
		case r, ok := <-b.reqs:
			if !ok {
				return batch
			}
			batch, last = take(batch, r), time.Now()
			continue
		default:
		}
		if !b.worthWaiting(len(batch), floor) {
			return batch
		}
		now := time.Now()
		if now.After(deadline) || now.Sub(last) > b.lingerGap {
			return batch
		}
		wait := min(b.lingerGap-now.Sub(last), deadline.Sub(now))
		t.Reset(wait)
		select {
		case r, ok := <-b.reqs:
			t.Stop()
			if !ok {
				return batch
			}
			batch, last = take(batch, r), time.Now()
		case <-t.C:
			if time.Since(now) > wait+overshoot {
				// The process went idle: nothing was about to come.
				b.quiet.Store(quietBatches)
			}
			return batch
		}
	}
	return batch
}

// commit runs the live requests of batch in one transaction and answers them.
func (b *batcher) commit(batch []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var err error
	if b.beforeBatch != nil {
		err = b.beforeBatch()
	}
	if err == nil {
		err = b.db.runBatch(ctx, live)
	}
	b.db.health.record(live, err)
	b.batches.Add(1)
	b.requests.Add(int64(len(live)))
	answer(live, err)
}

// answer tells each of reqs its result: its own error if it has one, else
// err, the batch's.
func answer(reqs []*writeReq, err error) {
	if err != nil {
		err = fmt.Errorf("group commit of %d writes: %w", len(reqs), err)
	}
	for _, r := range reqs {
		if r.err == nil {
			r.err = err
		}
		r.done <- struct{}{}
	}
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

// runBatch runs reqs in one transaction: first all together, and if a
// statement fails, again with each request in a savepoint of its own. It sets
// each request's err to its refusal or failure, and returns the error of the
// transaction itself (BEGIN or COMMIT), which fails every request without
// one.
func (db *DB) runBatch(ctx context.Context, reqs []*writeReq) error {
	if db.d.dollar && oneStatement(reqs) && !leased(reqs) {
		return db.insertAutocommit(ctx, reqs)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range reqs {
			r.err = nil
		}
		return db.runTogether(ctx, tx, reqs)
	})
	if err == nil || !errors.Is(err, errStatement) {
		return err
	}
	// A statement failed: find whose.
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range reqs {
			r.err = nil
			if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				return err
			}
			if err := db.runTogether(ctx, tx, []*writeReq{r}); err != nil {
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT op"); rerr != nil {
					// SQLite rolls the whole transaction back on some
					// errors (SQLITE_FULL, SQLITE_IOERR), savepoints
					// included: the statement's error is the cause.
					return fmt.Errorf("%w (rollback to savepoint: %v)", errors.Unwrap(err), rerr)
				}
				r.err = errors.Unwrap(err) // the statement's own error
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT op"); err != nil {
				return err
			}
		}
		return nil
	})
}

// oneStatement reports whether reqs are inserts that PostgreSQL writes in one
// statement: no other kind of write, and no idempotency key twice (a repeated
// key takes a second round, and two statements need a transaction to be
// atomic together).
func oneStatement(reqs []*writeReq) bool {
	keys := make(map[string]bool, len(reqs))
	for _, r := range reqs {
		if r.ins == nil {
			return false
		}
		k := r.ins.roundKey()
		if keys[k] {
			return false
		}
		keys[k] = true
	}
	return true
}

// insertAutocommit runs a batch of inserts on PostgreSQL without a
// transaction around it. An insert's writes (key, receipt, body) are one
// statement there (insertPostgresQuery), and a statement is atomic and
// durable on its own: BEGIN and COMMIT would only add two round trips to a
// batch of one statement. A statement that fails has written nothing; the
// batch then runs again one insert a statement, so the failing one fails
// alone.
func (db *DB) insertAutocommit(ctx context.Context, reqs []*writeReq) error {
	ops := make([]*insertOp, len(reqs))
	for i, r := range reqs {
		r.err, r.ins.req = nil, r
		ops[i] = r.ins
	}
	if err := db.insertAll(ctx, db.write, ops); err == nil {
		return nil
	}
	for _, op := range ops {
		if err := db.insertAll(ctx, db.write, []*insertOp{op}); err != nil {
			op.req.err = err
		}
	}
	return nil
}

// errStatement marks the failure of one of a batch's statements (as opposed
// to BEGIN or COMMIT): the batch runs again, each request in its savepoint.
var errStatement = errors.New("statement failed")

type statementError struct{ err error }

func (e statementError) Error() string { return e.err.Error() }
func (e statementError) Unwrap() error { return e.err }
func (e statementError) Is(target error) bool {
	return target == errStatement
}

// failed wraps the error of a batch statement.
func failed(err error) error {
	if err == nil {
		return nil
	}
	return statementError{err}
}

// runTogether runs the operations of reqs, kind by kind: inserts first (so a
// claim in the same batch sees them), then completions, claims and the
// remaining write functions. A refusal is recorded on its request; any other
// error is returned as a statement failure.
func (db *DB) runTogether(ctx context.Context, tx *sql.Tx, reqs []*writeReq) error {
	var (
		ins   []*insertOp
		comps []*completeOp
	)
	for _, r := range reqs {
		switch {
		case r.ins != nil:
			r.ins.req = r
			ins = append(ins, r.ins)
		case r.complete != nil:
			r.complete.req = r
			comps = append(comps, r.complete)
		}
	}
	if len(ins) > 0 {
		if err := db.insertAll(ctx, tx, ins); err != nil {
			return failed(err)
		}
		if err := db.leaseInserted(ctx, tx, ins); err != nil {
			return failed(err)
		}
	}
	if len(comps) > 0 {
		if err := db.completeAll(ctx, tx, comps); err != nil {
			return failed(err)
		}
		if err := db.insertReplies(ctx, tx, comps); err != nil {
			return failed(err)
		}
	}
	for _, r := range reqs {
		var err error
		switch {
		case r.claim != nil:
			err = db.claimOne(ctx, tx, r.claim)
		case r.fn != nil:
			err = r.fn(ctx, tx)
		default:
			continue
		}
		if err == nil {
			continue
		}
		if _, ok := err.(*hookgate.Error); ok {
			// Refused before writing (e.g. a receipt in flight): the
			// transaction is intact. Answer after the commit like the
			// others, so the answer never overtakes writes it may have read.
			r.err = err
			continue
		}
		return failed(err)
	}
	return nil
}

// BatchStats reports how many group commits ran and how many write requests
// they held, so tests and benchmarks can see the batching.
func (db *DB) BatchStats() (batches, requests int64) {
	if db.batch == nil {
		return 0, 0
	}
	return db.batch.batches.Load(), db.batch.requests.Load()
}

// submit runs r in the next group commit; see batcher.do. Without a batcher
// (a DB that is not open yet) it runs alone.
func (db *DB) submit(ctx context.Context, r *writeReq) error {
	if db.batch == nil {
		if err := db.runBatch(ctx, []*writeReq{r}); err != nil {
			return err
		}
		return r.err
	}
	return db.batch.do(ctx, r)
}

// inBatch runs fn in the next group commit.
func (db *DB) inBatch(ctx context.Context, fn writeFunc) error {
	r := &writeReq{fn: fn, done: make(chan struct{}, 1)}
	return db.submit(ctx, r)
}

// stmt returns the statement for query bound to tx: SQLite's prepared one
// (prepare), or nil to run query as text (PostgreSQL, where pgx prepares and
// caches every statement per connection by itself).
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if st := db.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st)
	}
	return nil
}

// exec runs query (written with ? placeholders) in tx, through its prepared
// statement when there is one.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.stmt(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.d.q(query), args...)
}

// query is exec for a statement that returns rows.
func (db *DB) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.d.q(query), args...)
}

// queryRow is query for a statement that returns one row.
func (db *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := db.stmt(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.d.q(query), args...)
}

// prepare prepares SQLite's hot-path statements (sqliteStatements) on its
// write connection. It runs before the batcher starts: while a batch holds
// the only write connection, preparing through the pool would wait for it
// forever, so nothing is prepared later.
func (db *DB) prepare(ctx context.Context) error {
	if db.d.name != "sqlite" {
		return nil
	}
	db.stmts = map[string]*sql.Stmt{}
	for _, q := range sqliteStatements() {
		if db.stmts[q] != nil {
			continue
		}
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		db.stmts[q] = st
	}
	return nil
}

// chunkSizes are the row counts of the multi-row statements: a batch of n
// rows is written in at most log2(maxBatch)+1 statements (45 = 32+8+4+1),
// each prepared once.
var chunkSizes = []int{256, 128, 64, 32, 16, 8, 4, 2, 1}

// chunks calls fn with consecutive pieces of [0,n) whose lengths are chunk
// sizes, largest first.
func chunks(n int, fn func(lo, hi int) error) error {
	lo := 0
	for _, size := range chunkSizes {
		for n-lo >= size {
			if err := fn(lo, lo+size); err != nil {
				return err
			}
			lo += size
		}
	}
	return nil
}
