package store_test

import (
	"context"
	"os"
	"testing"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// openPostgres returns a store in a schema of its own (storetest.PostgresURL).
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.PostgresURL(t))
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
