package dispatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// byConnection plans one handler per connection.
type byConnection map[string]Target

func (p byConnection) Plan(r *hookgate.Receipt) ([]Target, hookgate.Status, error) {
	return []Target{p[r.Connection]}, "", nil
}

// queue ingests n receipts of connection conn, due now.
func queue(t *testing.T, s hookgate.Store, conn string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: conn,
			IdempotencyKey: fmt.Sprint(conn, ":", i), Status: hookgate.StatusReceived, ReceivedAt: time.Now(),
			Body: []byte(`{}`)}
		if _, err := s.Ingest(context.Background(), r, time.Hour); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// TestHangingHandlerDelaysOnlyItsOwnDeliveries: handler a never answers
// (until the test ends) and has 300 deliveries queued; a delivery for
// handler b, queued after them, still arrives promptly: a's deliveries
// fill only a's share of the workers, and the receipts waiting for a go
// back to the queue instead of holding the dispatcher's claim budget.
func TestHangingHandlerDelaysOnlyItsOwnDeliveries(t *testing.T) {
	stores := map[string]func(t *testing.T) hookgate.Store{
		"sqlite": func(t *testing.T) hookgate.Store { return openDB(t) },
	}
	if os.Getenv("HOOKGATE_TEST_POSTGRES_URL") != "" {
		stores["postgres"] = func(t *testing.T) hookgate.Store {
			db, err := store.Open(context.Background(), storetest.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			hang := make(chan struct{})
			arrived := make(chan string, 1)
			retry := (&hookgate.RetryPolicy{}).WithDefaults()
			d := &Dispatcher{
				Store: s, Events: nopPublisher{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Now: time.Now, Owner: "w", Workers: 8, Lease: time.Minute, PollInterval: 50 * time.Millisecond,
				Planner: byConnection{
					"a": {Name: "a", Timeout: time.Hour, Retry: retry, Sender: hookgate.SenderFunc(
						func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
							<-hang
							return 200, false, nil
						})},
					"b": {Name: "b", Timeout: time.Minute, Retry: retry, Sender: hookgate.SenderFunc(
						func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
							arrived <- r.ID
							return 200, false, nil
						})},
				},
			}
			queue(t, s, "a", 300)
			want := queue(t, s, "b", 1)[0]
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			go func() { stopped <- d.Run(ctx) }()
			defer func() {
				close(hang) // a's deliveries end, so Run can return
				cancel()
				<-stopped
			}()
			start := time.Now()
			select {
			case got := <-arrived:
				if got != want {
					t.Fatalf("b received %s, want %s", got, want)
				}
				t.Logf("b's delivery arrived %v after dispatch started, with a hanging and 300 of its deliveries queued",
					time.Since(start).Round(time.Millisecond))
			case <-time.After(10 * time.Second):
				t.Fatal("b's delivery did not arrive within 10 s: a hanging handler stalls the others")
			}
		})
	}
}
