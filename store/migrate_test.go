package store

import (
	"context"
	"database/sql"
	"io/fs"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store/storetest"
)

// The layout of migration 2 (one wide receipts row, history and attempts
// tables) as a store of the previous release left it: one receipt with three
// transitions and attempts in two rounds, a rejected one with a trace, and a
// key.
var oldRows = []struct {
	q    string
	args []any
}{
	{`INSERT INTO receipts (id, connection_type, connection, event_type, nonce, idempotency_key, status, reason,
		duplicate_of, received_at, updated_at, headers, body, secret_id, trace, attempt_count, round, next_attempt_at)
		VALUES ('r1', 'github', 'primary', 'push', 'n1', 'primary:push:n1', 'acknowledged', '', NULL,
		1000000, 4000000, '{"X-Github-Event":["push"]}', ?, 's1', NULL, 1, 1, NULL)`, []any{[]byte("hello")}},
	{`INSERT INTO receipts (id, connection_type, connection, status, reason, received_at, updated_at, headers, body, trace)
		VALUES ('r2', 'github', 'primary', 'rejected', 'signature_mismatch', 2000000, 2000000, '{}', ?, ?)`,
		[]any{[]byte("forged"), []byte(`{"header":"X-Hub-Signature-256"}`)}},
	{`INSERT INTO history (receipt_id, from_status, status, reason, at) VALUES
		('r1', '', 'received', '', 1000000), ('r1', 'received', 'dispatched', '', 1500000),
		('r1', 'dispatched', 'acknowledged', '', 2500000), ('r2', '', 'rejected', 'signature_mismatch', 2000000)`, nil},
	{`INSERT INTO attempts (receipt_id, round, handler, number, started_at, finished_at, outcome, status_code, error)
		VALUES ('r1', 0, 'h', 1, 1500000, 1600000, 'failure', 500, 'boom'),
		('r1', 0, 'g', 1, 1600000, 1700000, 'success', 204, ''),
		('r1', 1, 'h', 1, 3500000, 3600000, 'success', 200, '')`, nil},
	{`INSERT INTO idempotency_keys (key, receipt_id, expires_at) VALUES ('primary:push:n1', 'r1', 9000000000000000)`, nil},
}

const (
	oldHistory  = `SELECT receipt_id, from_status, status, reason, at FROM history ORDER BY id`
	oldAttempts = `SELECT receipt_id, round, handler, number, started_at, finished_at, outcome, status_code, error
		FROM attempts ORDER BY id`
)

func TestMigrateReceiptRowsSQLite(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	testMigrateReceiptRows(t, raw, sqliteDialect, url)
}

func TestMigrateReceiptRowsPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	testMigrateReceiptRows(t, raw, postgresDialect, url)
}

// testMigrateReceiptRows writes rows in the old layout, migrates up and reads
// them through the store, migrates down and compares the old tables with
// what was written, and migrates up again.
func testMigrateReceiptRows(t *testing.T, raw *sql.DB, d dialect, url string) {
	ctx := context.Background()
	sub, err := fs.Sub(migrations, "migrations/"+d.name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(d.goose, raw, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, row := range oldRows {
		if _, err := raw.ExecContext(ctx, d.q(row.q), row.args...); err != nil {
			t.Fatalf("%s: %v", row.q, err)
		}
	}
	wantHistory, wantAttempts := dump(t, raw, oldHistory), dump(t, raw, oldAttempts)

	check := func() {
		t.Helper()
		db, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		r, err := db.Receipt(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Body) != "hello" || !reflect.DeepEqual(r.Headers, http.Header{"X-Github-Event": {"push"}}) ||
			r.Status != hookgate.StatusAcknowledged || r.Round != 1 || r.AttemptCount != 1 {
			t.Errorf("migrated r1: %+v", r)
		}
		var hist []string
		for _, h := range r.History {
			hist = append(hist, string(h.From)+">"+string(h.Status)+"@"+h.At.Format(time.RFC3339))
		}
		if want := []string{">received@1970-01-01T00:00:01Z", "received>dispatched@1970-01-01T00:00:01Z",
			"dispatched>acknowledged@1970-01-01T00:00:02Z"}; !reflect.DeepEqual(hist, want) {
			t.Errorf("history %v, want %v", hist, want)
		}
		var atts []string
		for _, a := range r.Attempts {
			atts = append(atts, a.Handler+"/"+string(a.Outcome)+"/"+a.Error+"/"+strconv.Itoa(a.Round))
		}
		if want := []string{"h/failure/boom/0", "g/success//0", "h/success//1"}; !reflect.DeepEqual(atts, want) {
			t.Errorf("attempts %v, want %v", atts, want)
		}
		if r.Attempts[0].StatusCode != 500 || !r.Attempts[0].StartedAt.Equal(time.UnixMicro(1500000)) {
			t.Errorf("first attempt %+v", r.Attempts[0])
		}
		rej, err := db.Receipt(ctx, "r2")
		if err != nil || string(rej.Trace) != `{"header":"X-Hub-Signature-256"}` || string(rej.Body) != "forged" ||
			len(rej.History) != 1 || rej.History[0].Reason != "signature_mismatch" {
			t.Errorf("migrated r2: %+v, %v", rej, err)
		}
		list, _, err := db.Receipts(ctx, hookgate.ReceiptFilter{})
		if err != nil || len(list) != 2 || list[0].ID != "r2" {
			t.Errorf("listing after migration: %v, %v", list, err)
		}
		// The migrated key still deduplicates.
		dup := &hookgate.Receipt{ID: "r3", ConnectionType: "github", Connection: "primary", EventType: "push",
			Nonce: "n1", IdempotencyKey: "primary:push:n1", ReceivedAt: time.UnixMicro(5000000)}
		if _, err := db.Ingest(ctx, dup, time.Hour); err != nil || dup.Status != hookgate.StatusDuplicate || dup.DuplicateOf != "r1" {
			t.Errorf("ingest of a migrated key: %s of %q, %v", dup.Status, dup.DuplicateOf, err)
		}
	}
	check()

	// A compressed body refuses the way down, and is not harmed.
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	big := &hookgate.Receipt{ID: "r4", ConnectionType: "github", Connection: "primary", EventType: "push",
		Nonce: "n4", IdempotencyKey: "primary:push:n4", ReceivedAt: time.UnixMicro(6000000),
		Body: []byte(strings.Repeat(`{"compressible":true}`, 100))}
	if _, err := db.Ingest(ctx, big, time.Hour); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := p.DownTo(ctx, 2); err == nil {
		t.Fatal("migrated down over a compressed body")
	}
	if _, err := raw.ExecContext(ctx, d.q(`DELETE FROM bodies WHERE seq = (SELECT seq FROM receipts WHERE id = 'r4')`)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `DELETE FROM receipts WHERE id = 'r4'`); err != nil {
		t.Fatal(err)
	}

	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, raw, oldHistory); !reflect.DeepEqual(got, append(wantHistory, "r3||duplicate||5000000")) {
		t.Errorf("history after down:\n got %q\nwant %q", got, wantHistory)
	}
	if got := dump(t, raw, oldAttempts); !reflect.DeepEqual(got, wantAttempts) {
		t.Errorf("attempts after down:\n got %q\nwant %q", got, wantAttempts)
	}
	if _, err := raw.ExecContext(ctx, `DELETE FROM receipts WHERE id = 'r3'`); err != nil {
		t.Fatal(err)
	}
	check()
}

// dump returns the rows of query, each as its columns joined by "|".
func dump(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
