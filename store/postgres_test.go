package store_test

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// openPostgres returns a store in a schema of its own (storetest.PostgresURL).
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.OpenWith(context.Background(), storetest.PostgresURL(t),
		store.Options{SecretKeyFile: filepath.Join(t.TempDir(), "hookgate.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgres(t *testing.T) {
	if os.Getenv("HOOKGATE_TEST_POSTGRES_URL") == "" {
		t.Skip("HOOKGATE_TEST_POSTGRES_URL not set: skipping PostgreSQL conformance")
	}
	storetest.Run(t, func(t *testing.T) hookgate.Store { return openPostgres(t) })
}

// TestPostgresOrderingSharedStores runs the ordering tests with each worker
// on a store of its own over one schema, as several hookgate instances share
// a database: their claims race through SKIP LOCKED, not one writer.
func TestPostgresOrderingSharedStores(t *testing.T) {
	storetest.RunOrdering(t, func(t *testing.T, n int) []hookgate.Store {
		url := storetest.PostgresURL(t)
		out := make([]hookgate.Store, n)
		for i := range out {
			db, err := store.OpenWith(context.Background(), url,
				store.Options{SecretKeyFile: filepath.Join(t.TempDir(), "hookgate.key")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			out[i] = db
		}
		return out
	})
}

func TestPostgresMigrateTwice(t *testing.T) {
	db := openPostgres(t)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresClaimStaysInPage checks what claims are built on
// (claimPostgres): leasing a receipt writes its new row version into the page
// the receipt is in — a HOT update, with no new index entries — because the
// receipts table leaves room in every page for the versions claims write
// (migration 00005). The receipts are the size a delivery gives them (uuid ids
// and nonces, a key, a secret id, an owner like the gateway's: about 330
// bytes a row); with the room fillfactor 80 left, a claim moved 248 of the 300
// to other pages.
func TestPostgresClaimStaysInPage(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	const n = 300
	now := time.Now().UTC().Truncate(time.Microsecond)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			nonce := uuid.NewString()
			_, errs[i] = db.Ingest(ctx, &hookgate.Receipt{
				ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github", Connection: "primary",
				EventType: "pull_request", Nonce: nonce, IdempotencyKey: "primary:pull_request:" + nonce,
				Status: hookgate.StatusReceived, ReceivedAt: now, SecretID: hookgate.SecretID("whsec_x"),
				Headers: http.Header{"X-Github-Event": {"pull_request"}, "X-Github-Delivery": {nonce}},
				Body:    []byte(`{"action":"opened","number":7}`),
			}, time.Hour)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	pages := func() map[string]string {
		rows, err := raw.QueryContext(ctx, `SELECT id, split_part(ctid::text, ',', 1) FROM receipts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var id, page string
			if err := rows.Scan(&id, &page); err != nil {
				t.Fatal(err)
			}
			m[id] = page
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := pages()
	rs, _, err := db.Claim(ctx, "worker-7f3a9c.internal/48213/1a2b3c4d", n, now.Add(time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("claimed %d receipts, want %d", len(rs), n)
	}
	moved := 0
	for id, page := range pages() {
		if before[id] != page {
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("a claim moved %d of %d receipts to another page: their leases were not HOT updates", moved, n)
	}
}

func TestPostgresSealing(t *testing.T) {
	if os.Getenv("HOOKGATE_TEST_POSTGRES_URL") == "" {
		t.Skip("HOOKGATE_TEST_POSTGRES_URL not set: skipping PostgreSQL sealing")
	}
	storetest.RunSealing(t, storetest.SealingEnv{
		URL: func(t *testing.T) string { return storetest.PostgresURL(t) },
		Raw: func(t *testing.T, url string) *sql.DB {
			raw, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return raw
		},
		Open: openSealed,
	})
}

// TestPostgresNeedsKey: PostgreSQL has no default key file (instances on
// several hosts must share one key), so a gateway's store refuses to open
// without a configured key rather than invent one.
func TestPostgresNeedsKey(t *testing.T) {
	url := storetest.PostgresURL(t)
	db, err := store.OpenWith(context.Background(), url, store.Options{RequireKey: true})
	if err == nil {
		db.Close()
		t.Fatal("opened PostgreSQL without a secret key")
	}
	if hookgate.ErrorCode(err) != hookgate.EInvalid || !strings.Contains(err.Error(), "HOOKGATE_SECRET_KEY") {
		t.Fatalf("error = %v, want EInvalid naming HOOKGATE_SECRET_KEY", err)
	}
}
