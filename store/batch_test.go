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
// planner statistics behind, so listings pick the (connection, status) index
// instead of scanning the all-connections status index.
func TestPlannerStatisticsOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stats.db")
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := db.Ingest(ctx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github",
			Connection: fmt.Sprint("c", i%3), IdempotencyKey: fmt.Sprint("k", i), Status: hookgate.StatusFiltered,
			ReceivedAt: time.Now(), Body: []byte(`{}`)}, time.Hour); err != nil {
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
	var plan string
	rows, err := db.read.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM receipts WHERE connection = 'c1' AND status = 'dead'
		ORDER BY received_at DESC, id DESC LIMIT 51`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var d string
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		plan += d + "; "
	}
	rows.Close()
	if !strings.Contains(plan, "receipts_connection_status") {
		t.Errorf("listing one connection by status: plan %q, want the receipts_connection_status index", plan)
	}
}
