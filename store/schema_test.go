package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// TestPostgresSchemaOfItsOwn: with storage.schema (search_path) naming a
// schema that does not exist yet, Open creates it and puts every table in
// it, so hookgate can share a database; Migrations says what was applied.
func TestPostgresSchemaOfItsOwn(t *testing.T) {
	base := os.Getenv(storetest.PostgresEnv)
	if base == "" {
		t.Skip(storetest.PostgresEnv + " not set: skipping the PostgreSQL schema test")
	}
	ctx := context.Background()
	schema := "hg_schema_" + strings.ToLower(rand.Text()[:12])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := config.Storage{URL: base, Schema: schema}.OpenURL()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	applied, version := db.Migrations()
	db.Close()
	if len(applied) == 0 || version == 0 || !strings.HasPrefix(applied[0], "00001_") {
		t.Fatalf("first open applied %v (version %d)", applied, version)
	}
	var tables int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = $1 AND table_name IN ('receipts', 'connections', 'goose_db_version')`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 3 {
		t.Fatalf("%d of hookgate's tables are in schema %s", tables, schema)
	}
	db, err = store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, v := db.Migrations(); len(again) != 0 || v != version {
		t.Fatalf("second open applied %v (version %d, was %d)", again, v, version)
	}
}

// TestMigrationsReported: the open that creates an SQLite database reports
// every migration it applied; the next reports none.
func TestMigrationsReported(t *testing.T) {
	t.Parallel()
	u := "sqlite://" + filepath.Join(t.TempDir(), "hg.db")
	db, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	applied, version := db.Migrations()
	db.Close()
	// Numbers may have gaps (branches take numbers ahead of one another),
	// so the last applied is the version, not their count.
	if len(applied) < 3 || !strings.HasPrefix(applied[len(applied)-1], fmt.Sprintf("%05d_", version)) {
		t.Fatalf("applied %v, version %d", applied, version)
	}
	db, err = store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, _ := db.Migrations(); len(again) != 0 {
		t.Fatalf("second open applied %v", again)
	}
}
