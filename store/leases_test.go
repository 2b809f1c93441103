package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// TestTakeOverLeasesByDialect: a SQLite file belongs to one process, so a
// restarted one takes over every lease left in it at once; PostgreSQL is
// shared by instances that cannot tell a dead peer from a live one, so
// nothing is released there and expiry decides.
func TestTakeOverLeasesByDialect(t *testing.T) {
	stores := map[string]func(t *testing.T) hookgate.Store{
		"sqlite": func(t *testing.T) hookgate.Store { return openSQLite(t) },
	}
	if os.Getenv("HOOKGATE_TEST_POSTGRES_URL") != "" {
		stores["postgres"] = func(t *testing.T) hookgate.Store { return openPostgres(t) }
	}
	want := map[string]int64{"sqlite": 2, "postgres": 0}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			now := time.Now()
			for i, key := range []string{"a", "b", "c"} {
				r := &hookgate.Receipt{ID: key + "-id", Connection: "c", IdempotencyKey: "k" + key,
					Status: hookgate.StatusReceived, ReceivedAt: now.Add(time.Duration(i-3) * time.Microsecond), Body: []byte(`{}`)}
				if _, err := s.Ingest(ctx, r, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			for _, owner := range []string{"dead-1", "dead-2", "me"} {
				if rs, _, err := s.Claim(ctx, owner, 1, now, time.Hour); err != nil || len(rs) != 1 {
					t.Fatalf("claim by %s: %d receipts, err %v", owner, len(rs), err)
				}
			}
			n, err := s.TakeOverLeases(ctx, "me")
			if err != nil {
				t.Fatal(err)
			}
			if n != want[name] {
				t.Fatalf("took over %d leases, want %d", n, want[name])
			}
		})
	}
}
