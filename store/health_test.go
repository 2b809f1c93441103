package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	hookgate "github.com/hookgate/hookgate"
)

func ingestOne(ctx context.Context, db *DB, body []byte) error {
	id := uuid.Must(uuid.NewV7()).String()
	_, err := db.Ingest(ctx, &hookgate.Receipt{
		ID: id, ConnectionType: "github", Connection: "c", IdempotencyKey: "c:push:" + id,
		Status: hookgate.StatusReceived, ReceivedAt: time.Now(), Body: body,
	}, time.Hour)
	return err
}

// waitPing polls Ping until ok(err) holds, and fails the test after 10 s.
func waitPing(t *testing.T, db *DB, what string, ok func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping(context.Background())
		if ok(err) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping: %v, 10 s after %s", err, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPingSeesFailingWrites makes SQLite's write connection read-only
// (query_only), a real refusal of every write while reads go on, as on a full
// disk: Ping must fail with a message that says why, and once writes are
// allowed again Ping recovers with no traffic at all.
func TestPingSeesFailingWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "health.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := ingestOne(ctx, db, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy store: %v", err)
	}

	if _, err := db.write.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	if err := ingestOne(ctx, db, []byte(`{}`)); err == nil {
		t.Fatal("ingest succeeded on a read-only write connection")
	}
	err = db.Ping(ctx)
	if hookgate.ErrorCode(err) != hookgate.EUnavailable || !strings.Contains(hookgate.ErrorMessage(err), "read-only") {
		t.Fatalf("Ping after a failed write = %v; want %s saying the database is read-only", err, hookgate.EUnavailable)
	}
	if n := db.WriteFailures(); n < 1 {
		t.Errorf("WriteFailures = %d after a failed write", n)
	}

	if _, err := db.write.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	// No traffic: the probe must find out by itself.
	waitPing(t, db, "writes were allowed again", func(err error) bool { return err == nil })
	var probes int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM idempotency_keys WHERE key = ?`, probeKey).Scan(&probes); err != nil || probes != 0 {
		t.Fatalf("probe rows left behind: %d, %v", probes, err)
	}
}

// TestWALTruncatedAfterFailedWrite grows the WAL, makes a write fail with
// SQLITE_FULL (max_page_count caps the database where it stands, as a full
// disk would), then lets writes succeed again: the WAL file must shrink back
// to nothing rather than keep the space it had grown to.
func TestWALTruncatedAfterFailedWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "full.db")
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pad := []byte(`{"pad":"` + strings.Repeat("x", 8000) + `"}`)
	for range 200 {
		if err := ingestOne(ctx, db, pad); err != nil {
			t.Fatal(err)
		}
	}
	var pages int
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	failed := false
	for range 50 {
		if err := ingestOne(ctx, db, pad); err != nil {
			failed = true
			break
		}
	}
	if !failed {
		t.Fatal("no ingest failed with the database capped at its size")
	}
	err = db.Ping(ctx)
	if !strings.Contains(hookgate.ErrorMessage(err), "disk is full") {
		t.Fatalf("Ping after SQLITE_FULL = %v; want it to say the disk is full", err)
	}
	// An empty claim (the dispatcher's poll) commits without writing: it
	// must not pass for a successful write.
	if rs, _, err := db.Claim(ctx, "w", 10, time.Now().Add(-time.Hour), time.Minute); err != nil || len(rs) != 0 {
		t.Fatalf("empty claim: %d, %v", len(rs), err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Fatal("an empty claim, which wrote nothing, made Ping succeed while writes fail")
	}
	walFull := fileSize(t, path+"-wal")

	if _, err := db.write.ExecContext(ctx, "PRAGMA max_page_count = 4294967294"); err != nil {
		t.Fatal(err)
	}
	if err := ingestOne(ctx, db, []byte(`{}`)); err != nil {
		t.Fatalf("ingest once space returned: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path+"-wal") > 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("WAL is %d bytes 10 s after writes succeeded again (%d while failing); want it truncated",
				fileSize(t, path+"-wal"), walFull)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
