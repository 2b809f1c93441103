package store_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

func openSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "hookgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hookgate.Store { return openSQLite(t) })
}

func TestSQLiteMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hookgate.Store {
		db, err := store.Open(context.Background(), "sqlite::memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestOpenURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, url := range []string{"mysql://x", "sqlite://", "hookgate.db", ""} {
		if db, err := store.Open(ctx, url); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", url)
		} else if hookgate.ErrorCode(err) != hookgate.EInvalid {
			t.Errorf("Open(%q): code %s (%v), want %s", url, hookgate.ErrorCode(err), err, hookgate.EInvalid)
		}
	}
}

// TestSQLiteReopen checks that migrations are idempotent and that data is
// on disk after Close.
func TestSQLiteReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "reopen.db")
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	r := receipt(0, time.Now())
	if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Receipt(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
}

func receipt(i int, at time.Time) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID:             uuid.Must(uuid.NewV7()).String(),
		ConnectionType: "github",
		Connection:     "primary",
		EventType:      "push",
		Nonce:          fmt.Sprint(i),
		IdempotencyKey: fmt.Sprint("primary:push:", i),
		Status:         hookgate.StatusReceived,
		ReceivedAt:     at,
		Headers: http.Header{
			"Content-Type":        {"application/json"},
			"X-Github-Event":      {"push"},
			"X-Github-Delivery":   {fmt.Sprint(i)},
			"X-Hub-Signature-256": {"sha256=" + strings.Repeat("ab", 32)},
		},
		Body:     []byte(`{"payload":"` + strings.Repeat("x", 2048-14) + `"}`),
		SecretID: "s1",
	}
}

func BenchmarkIngestSQLite(b *testing.B) {
	db := openSQLite(b)
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(2048)
	i := 0
	for b.Loop() {
		if _, err := db.Ingest(ctx, receipt(i, now), 24*time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkClaimSQLite(b *testing.B) {
	db := openSQLite(b)
	ctx := context.Background()
	now := time.Now()
	const batch = 10
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range batch {
			if _, err := db.Ingest(ctx, receipt(i, now), 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StartTimer()
		rs, _, err := db.Claim(ctx, "bench", batch, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != batch {
			b.Fatalf("claimed %d, want %d", len(rs), batch)
		}
	}
}

// BenchmarkIngestSQLiteParallel ingests from 64 goroutines at once, so
// group commit shares each flush among the waiting writes; ns/op is the
// store's cost per ingest when it is busy.
func BenchmarkIngestSQLiteParallel(b *testing.B) {
	db := openSQLite(b)
	ctx := context.Background()
	now := time.Now()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetBytes(2048)
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Ingest(ctx, receipt(int(n.Add(1)), now), 24*time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
	batches, requests := db.BatchStats()
	if batches > 0 {
		b.ReportMetric(float64(requests)/float64(batches), "writes/commit")
	}
}
