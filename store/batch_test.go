package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store/storetest"
)

// TestGroupCommitJoinsWaitingWrites holds SQLite's only write connection, so
// that the batcher's first request waits to begin while the others queue,
// then checks that the queued requests shared one commit.
func TestGroupCommitJoinsWaitingWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	hold, err := db.write.BeginTx(ctx, nil) // the single write connection
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.Ingest(ctx, &hookgate.Receipt{
				ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github", Connection: "c",
				IdempotencyKey: fmt.Sprint("c:push:", i), Status: hookgate.StatusReceived,
				ReceivedAt: time.Now(), Body: []byte(`{}`),
			}, time.Hour)
		}()
	}
	// The batcher holds the first request(s) and waits for the connection;
	// wait until every request is queued or taken.
	deadline := time.Now().Add(10 * time.Second)
	for db.batch.enqueued.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests queued", db.batch.enqueued.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if _, requests := db.BatchStats(); requests != 0 {
		t.Fatalf("a batch committed while the write connection was held")
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
	}
	batches, requests := db.BatchStats()
	if requests != n || batches > 2 {
		t.Errorf("%d requests in %d batches, want %d in at most 2 (the first, then all that waited)", requests, batches, n)
	}
}

// TestCheckpointerBoundsTheWAL writes far more than the restart threshold
// while the writer never checkpoints itself (wal_autocheckpoint=0): the
// background checkpointer must keep rewinding the WAL, so the file stays
// near the threshold instead of holding every commit.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	every, frames := checkpointEvery, walRestartFrames
	checkpointEvery, walRestartFrames = 5*time.Millisecond, 64
	t.Cleanup(func() { checkpointEvery, walRestartFrames = every, frames })

	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	body := []byte(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	const n, writers = 2000, 16
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				_, err := db.Ingest(ctx, &hookgate.Receipt{
					ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github", Connection: "c",
					IdempotencyKey: fmt.Sprint("c:push:", i), Status: hookgate.StatusReceived,
					ReceivedAt: time.Now(), Body: body,
				}, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Bodies alone are about 8 MiB; without checkpoints the WAL would hold
	// all of it (and every index page, many times over).
	if st.Size() > 4<<20 {
		t.Errorf("WAL is %d bytes after %d ingests of %d-byte bodies: not checkpointed", st.Size(), n, len(body))
	}
	var count int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM receipts`).Scan(&count); err != nil || count != n {
		t.Fatalf("count = %d, %v; want %d", count, err, n)
	}
}

// TestPlannerStatisticsOnOpen: reopening a store with receipts in it leaves
// planner statistics behind, and with them every listing the store builds
// reads an index range: none scans the table or sorts more than the queue.
func TestPlannerStatisticsOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stats.db")
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		st := hookgate.StatusFiltered
		if i%10 == 0 {
			st = hookgate.StatusReceived
		}
		if _, err := db.Ingest(ctx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github",
			Connection: fmt.Sprint("c", i%3), EventType: fmt.Sprint("e", i%5), IdempotencyKey: fmt.Sprint("k", i),
			Status: st, ReceivedAt: time.Now(), Body: []byte(`{}`)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'receipts'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("planner statistics for receipts: %d rows, %v", n, err)
	}
	since := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		f    hookgate.ReceiptFilter
		want []string // indexes the plan reads
	}{
		{hookgate.ReceiptFilter{Connection: "c1", Status: hookgate.StatusDead}, []string{"receipts_connection_status"}},
		{hookgate.ReceiptFilter{Status: hookgate.StatusFiltered, Since: since}, []string{"receipts_status"}},
		{hookgate.ReceiptFilter{Status: hookgate.StatusReceived}, []string{"receipts_due"}},
		{hookgate.ReceiptFilter{Connection: "c1", EventType: "e2"}, []string{"receipts_connection_event"}},
		{hookgate.ReceiptFilter{Connection: "c1"}, []string{"receipts_due", "receipts_connection_status"}},
		{hookgate.ReceiptFilter{}, []string{"receipts_due", "receipts_status"}},
		{hookgate.ReceiptFilter{EventType: "e2", Until: time.Now()}, []string{"receipts_due", "receipts_status"}},
	} {
		q, args, _, err := listQuery(c.f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		for rows.Next() {
			var a, b, c int
			var d string
			if err := rows.Scan(&a, &b, &c, &d); err != nil {
				t.Fatal(err)
			}
			plan += d + "; "
		}
		rows.Close()
		t.Logf("%+v: %s", c.f, plan)
		for _, ix := range c.want {
			if !strings.Contains(plan, "INDEX "+ix+" ") {
				t.Errorf("listing %+v: plan %q does not read %s", c.f, plan, ix)
			}
		}
		if strings.Contains(plan, "SCAN receipts;") || strings.Contains(plan, "SCAN receipts ") && !strings.Contains(plan, "USING INDEX") {
			t.Errorf("listing %+v scans the table: %q", c.f, plan)
		}
	}
}

// TestBatchLingersUnderLoad: a batch taken with company waits for more
// requests (up to lingerTarget, within lingerMax) before it commits; a request
// that comes alone commits at once.
func TestBatchLingersUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "linger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A window far longer than the test: a lone request that lingered
	// would not come back in time.
	db.batch.lingerTarget, db.batch.lingerMax, db.batch.lingerGap = 4, time.Minute, time.Minute
	done := make(chan error, 1)
	go func() {
		_, err := db.Ingest(ctx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github",
			Connection: "c", IdempotencyKey: "c:push:alone", ReceivedAt: time.Now(), Body: []byte(`{}`)}, time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone request waited for company")
	}

	// linger itself: a batch of two waits for two more, then stops at the
	// target; a batch that gets no company stops at lingerMax.
	b := &batcher{reqs: make(chan *writeReq, 8), lingerTarget: 4, lingerMax: time.Minute, lingerGap: time.Minute}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	got := make(chan []*writeReq, 1)
	go func() { got <- b.linger([]*writeReq{{}, {}}, 2, timer) }()
	b.reqs <- &writeReq{}
	b.reqs <- &writeReq{}
	b.reqs <- &writeReq{} // beyond the target: left for the next batch
	if batch := <-got; len(batch) != 4 || len(b.reqs) != 1 {
		t.Errorf("lingered batch of %d, %d left queued; want 4 and 1", len(batch), len(b.reqs))
	}
	<-b.reqs
	b.lingerMax = 20 * time.Millisecond
	if batch := b.linger([]*writeReq{{}, {}}, 2, timer); len(batch) != 2 {
		t.Errorf("batch without company: %d", len(batch))
	}
	// Requests that stop coming end the wait long before lingerMax.
	b.lingerMax, b.lingerGap = time.Minute, 20*time.Millisecond
	go func() { b.reqs <- &writeReq{} }()
	start := time.Now()
	if batch := b.linger([]*writeReq{{}, {}}, 2, timer); len(batch) != 3 {
		t.Errorf("batch of %d, want the 2 and the one that came", len(batch))
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("lingered %v without arrivals; the gap should end it", waited)
	}
}

// TestLingerForAnnouncedWrites: an announced write keeps even a lone request
// waiting for it; once nothing is announced (queued, or withdrawn) a batch
// below the floor commits without waiting out lingerMax.
func TestLingerForAnnouncedWrites(t *testing.T) {
	b := &batcher{reqs: make(chan *writeReq, 8), lingerTarget: 4, lingerMax: time.Minute, lingerGap: time.Minute}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	noFloor := maxBatch + 1

	// Nothing announced: no wait at all.
	start := time.Now()
	if batch := b.linger([]*writeReq{{}}, noFloor, timer); len(batch) != 1 {
		t.Fatalf("batch of %d, want 1", len(batch))
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("waited %v with nothing announced", waited)
	}

	// One announced: the lane waits for it, and taking it ends the
	// announcement, which ends the wait.
	ctx, done := b.expect(context.Background())
	defer done()
	if n := b.coming.Load(); n != 1 {
		t.Fatalf("coming = %d after expect, want 1", n)
	}
	got := make(chan []*writeReq, 1)
	go func() { got <- b.linger([]*writeReq{{}}, noFloor, timer) }()
	select {
	case batch := <-got:
		t.Fatalf("did not wait for the announced write (batch of %d)", len(batch))
	case <-time.After(50 * time.Millisecond):
	}
	e, _ := ctx.Value(expectKey{}).(*expectation)
	b.reqs <- &writeReq{exp: e} // as do queues it
	select {
	case batch := <-got:
		if len(batch) != 2 {
			t.Errorf("batch of %d, want the lone request and the announced one", len(batch))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still waiting after the announced write was queued")
	}
	if n := b.coming.Load(); n != 0 {
		t.Errorf("coming = %d after the write was taken, want 0", n)
	}
	done() // a second end does not count twice
	if n := b.coming.Load(); n != 0 {
		t.Errorf("coming = %d after done, want 0", n)
	}

	// Withdrawn without a write (a delivery answered 401): the wait ends at
	// the next gap, not at lingerMax.
	b.lingerGap = 20 * time.Millisecond
	_, done2 := b.expect(context.Background())
	go func() { got <- b.linger([]*writeReq{{}}, noFloor, timer) }()
	time.Sleep(20 * time.Millisecond)
	done2()
	select {
	case batch := <-got:
		if len(batch) != 1 {
			t.Errorf("batch of %d, want 1", len(batch))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still waiting after the announcement was withdrawn")
	}
}

// TestIngestEndsItsAnnouncement: a write submitted with the context of
// Expect ends the announcement when the batcher takes it, so a store left
// with no delivery on its way does not wait for one — on both backends.
func TestIngestEndsItsAnnouncement(t *testing.T) {
	for name, url := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "expect.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ectx, done := db.Expect(ctx)
			defer done()
			if n := db.batch.coming.Load(); n != 1 {
				t.Fatalf("coming = %d, want 1", n)
			}
			if _, err := db.Ingest(ectx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github",
				Connection: "c", IdempotencyKey: "c:push:expected", ReceivedAt: time.Now(), Body: []byte(`{}`)}, time.Hour); err != nil {
				t.Fatal(err)
			}
			if n := db.batch.coming.Load(); n != 0 {
				t.Errorf("coming = %d after the ingest, want 0", n)
			}
		})
	}
}
