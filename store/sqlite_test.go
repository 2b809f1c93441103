package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
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

func sqliteSealingEnv() storetest.SealingEnv {
	return storetest.SealingEnv{
		URL: func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db") },
		Raw: func(t *testing.T, url string) *sql.DB {
			raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://")+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw
		},
		Open: openSealed,
	}
}

func openSealed(url, keyFile, key string) (storetest.SealedStore, error) {
	db, err := store.OpenWith(context.Background(), url, store.Options{SecretKeyFile: keyFile, SecretKey: key})
	if err != nil {
		return nil, err // not a non-nil interface holding a nil *DB
	}
	return db, nil
}

func TestSQLiteSealing(t *testing.T) {
	t.Parallel()
	storetest.RunSealing(t, sqliteSealingEnv())
}

// TestSQLiteSecretsSealedByDefault: with nothing configured, a store on a
// SQLite file keeps its key in a file of its own next to the database,
// created 0600, and the database holds no secret in clear.
func TestSQLiteSecretsSealedByDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "hookgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const secret = "github-webhook-secret-4c9d"
	c := &hookgate.Connection{Type: "github", Name: "primary", SigningSecrets: []string{secret},
		BasicAuth: &hookgate.BasicAuth{Username: "u", Password: "basic-password-77e1"}}
	if err := db.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // checkpoints: everything is in the main file
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "hookgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, "basic-password-77e1"} {
		if bytes.Contains(file, []byte(s)) {
			t.Errorf("the database file holds %q in clear", s)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "hookgate.key"))
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o, want 600", st.Mode().Perm())
	}
}

// TestSQLiteFilesPrivate: the database and its -wal and -shm files are
// readable by their owner only, whatever the umask, and an existing
// database of mode 0644 is narrowed when opened.
func TestSQLiteFilesPrivate(t *testing.T) {
	// Not parallel: it sets the process umask.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hookgate.db")
	check := func(when string) {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %o, want 600", when, filepath.Base(f), st.Mode().Perm())
			}
		}
	}
	db, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, receipt(0, time.Now()), time.Hour); err != nil {
		t.Fatal(err)
	}
	check("new database")
	db.Close()

	// A database made by an older version (or by hand) with mode 0644.
	for _, f := range []string{path} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err = store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Ingest(ctx, receipt(1, time.Now()), time.Hour); err != nil {
		t.Fatal(err)
	}
	check("reopened 0644 database")
}

// TestSQLiteLegacySecretsLeaveNoTrace: once the rows an older version
// stored in clear are sealed, the database file keeps no copy of the clear
// text in freed space either.
func TestSQLiteLegacySecretsLeaveNoTrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hookgate.db")
	db, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Rows as versions before sealing stored them, in clear, enough of
	// them that sealing moves cells and frees space.
	for i := range 60 {
		name := fmt.Sprintf("legacy%02d", i)
		config := fmt.Sprintf(`{"type":"github","name":%q,"signing_secret":"legacy-secret-%02d","routes":[{"handlers":["h"]}],"path":"/x/%s"}`, name, i, strings.Repeat("p", 200))
		if _, err := raw.Exec(`INSERT INTO connections (name, type, config, created_at, updated_at) VALUES (?, 'github', ?, 0, 0)`, name, config); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err = store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := db.Connections(ctx); err != nil || len(cs) != 60 {
		t.Fatalf("connections after sealing: %d %v", len(cs), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("legacy-secret-")); n > 0 {
			t.Errorf("%s still holds %d secrets in clear after they were sealed", filepath.Base(f), n)
		}
	}
}
