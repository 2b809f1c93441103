package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
)

// TestActivity: the dashboard's counts by connection, status and time
// bucket, on both dialects. Receipts in flight (with a job) and done with
// dispatch are both counted; receipts outside the window, or of a
// connection not asked for, are not.
func TestActivity(t *testing.T) {
	stores := map[string]func(t *testing.T) *store.DB{"sqlite": func(t *testing.T) *store.DB { return openSQLite(t) }}
	if os.Getenv("HOOKGATE_TEST_POSTGRES_URL") != "" {
		stores["postgres"] = openPostgres
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			ctx := context.Background()
			since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			n := 0
			add := func(conn string, at time.Time, status hookgate.Status) *hookgate.Receipt {
				t.Helper()
				n++
				r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), ConnectionType: "github", Connection: conn,
					EventType: "push", Nonce: fmt.Sprint(n), IdempotencyKey: fmt.Sprint(conn, ":", n),
					Status: status, ReceivedAt: at, Body: []byte(`{}`)}
				var err error
				if status == hookgate.StatusRejected {
					r.IdempotencyKey, r.Reason = "", "signature_mismatch"
					_, err = db.Record(ctx, r)
				} else {
					_, err = db.Ingest(ctx, r, time.Hour)
				}
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			minute := time.Minute
			add("a", since.Add(-time.Second), hookgate.StatusReceived) // before the window
			add("a", since, hookgate.StatusReceived)                   // bucket 0, stays in flight
			add("a", since.Add(30*time.Second), hookgate.StatusRejected)
			add("a", since.Add(90*time.Second), hookgate.StatusRejected) // bucket 1
			add("a", since.Add(2*minute), hookgate.StatusFiltered)       // bucket 2
			add("b", since.Add(59*time.Second), hookgate.StatusRejected)
			add("b", since.Add(3*minute), hookgate.StatusRejected) // after the window (3 buckets)
			add("c", since, hookgate.StatusRejected)               // not asked for
			// Two of b's deliveries finish: one acknowledged, one dead.
			ack, dead := add("b", since.Add(61*time.Second), hookgate.StatusReceived), add("b", since.Add(62*time.Second), hookgate.StatusReceived)
			rs, _, err := db.Claim(ctx, "w", 10, since.Add(time.Hour), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				c := hookgate.Completion{ReceiptID: r.ID, At: since.Add(time.Hour)}
				switch r.ID {
				case ack.ID:
					c.Status = hookgate.StatusAcknowledged
				case dead.ID:
					c.Status, c.Reason = hookgate.StatusDead, "gave up"
				default:
					continue // stays dispatched: in flight
				}
				if _, err := db.Complete(ctx, "w", c); err != nil {
					t.Fatal(err)
				}
			}

			got, err := db.Activity(ctx, []string{"a", "b", "none"}, since, minute, 3)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for i, b := range got.Buckets {
				for st, n := range b {
					keys = append(keys, fmt.Sprintf("%d/%s=%d", i, st, n))
				}
			}
			for conn, m := range got.Connections {
				for st, n := range m {
					keys = append(keys, fmt.Sprintf("%s/%s=%d", conn, st, n))
				}
			}
			slices.Sort(keys)
			want := []string{
				// every connection, c too, by bucket
				"0/dispatched=1", "0/rejected=3", "1/acknowledged=1", "1/dead=1", "1/rejected=1", "2/filtered=1",
				// the connections asked for, over the window
				"a/dispatched=1", "a/filtered=1", "a/rejected=2", "b/acknowledged=1", "b/dead=1", "b/rejected=1",
			}
			if !slices.Equal(keys, want) {
				t.Errorf("activity = %v, want %v", keys, want)
			}
			if len(got.Buckets) != 3 || got.Connections["none"] == nil {
				t.Errorf("activity has %d buckets and connections %v", len(got.Buckets), got.Connections)
			}

			if got, err := db.Activity(ctx, nil, since, minute, 3); err != nil || len(got.Connections) != 0 || got.Buckets[2][hookgate.StatusFiltered] != 1 {
				t.Errorf("no connections: %v %v", got, err)
			}
			if _, err := db.Activity(ctx, []string{"a"}, since, minute, 100_000); hookgate.ErrorCode(err) != hookgate.EInvalid {
				t.Errorf("too many buckets: %v", err)
			}
		})
	}
}
