package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// openPostgres returns a store in a schema of its own on the server named by
// HOOKGATE_TEST_POSTGRES_URL, dropped when t ends, so that tests can share
// one server.
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	base := os.Getenv("HOOKGATE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HOOKGATE_TEST_POSTGRES_URL not set: skipping PostgreSQL conformance")
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "hg_test_" + strings.ToLower(rand.Text()[:16])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown keys as run-time parameters
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, u.String())
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

func TestPostgresMigrateTwice(t *testing.T) {
	db := openPostgres(t)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}
