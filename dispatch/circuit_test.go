package dispatch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
)

// memoryCircuits hides the store's circuits, as a store that keeps none.
type memoryCircuits struct{ hookgate.Store }

// TestCircuitInMemory: over a store that keeps no circuits, the dispatcher
// keeps them itself: two failures open the circuit, the next receipt waits
// without an attempt, and after reset_timeout one probe closes it.
func TestCircuitInMemory(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var (
		mu  sync.Mutex
		now = time.Now().UTC()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var up atomic.Bool
	var calls atomic.Int64
	d := testDispatcher(memoryCircuits{db}, 1, time.Second, func(context.Context, *hookgate.Receipt) (int, bool, error) {
		calls.Add(1)
		if up.Load() {
			return 200, false, nil
		}
		return 503, true, errors.New("down")
	})
	d.Now = clock
	d.Planner = oneTarget{Target{Name: "h", Timeout: time.Second, Retry: (&hookgate.RetryPolicy{}).WithDefaults(),
		Circuit: hookgate.Circuit{FailureThreshold: 2, ResetTimeout: hookgate.Duration(time.Hour)}, Sender: d.Planner.(oneTarget).t.Sender}}
	ingest := func() string {
		id := uuid.Must(uuid.NewV7()).String()
		if _, err := db.Ingest(ctx, &hookgate.Receipt{ID: id, Connection: "c", IdempotencyKey: id, Status: hookgate.StatusReceived,
			ReceivedAt: clock(), Body: []byte(`{}`)}, time.Hour); err != nil {
			t.Fatal(err)
		}
		return id
	}
	drain := func() {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	ingest()
	ingest()
	drain()
	if st := d.Circuits()["h"]; st.State != hookgate.CircuitOpen || calls.Load() != 2 {
		t.Fatalf("after 2 failures: %+v, %d calls", st, calls.Load())
	}
	waiting := ingest()
	drain()
	if r, _ := db.Receipt(ctx, waiting); r.Status != hookgate.StatusReceived || len(r.Attempts) != 0 || calls.Load() != 2 {
		t.Fatalf("while open: %s, %d attempts, %d calls", r.Status, len(r.Attempts), calls.Load())
	}
	up.Store(true)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	drain()
	if st := d.Circuits()["h"]; st.State != hookgate.CircuitClosed {
		t.Fatalf("after the probe: %+v", st)
	}
	if r, _ := db.Receipt(ctx, waiting); r.Status != hookgate.StatusAcknowledged {
		t.Fatalf("waiting receipt: %s %q", r.Status, r.Reason)
	}
}

// BenchmarkHandlerControls is what a delivery to a handler with a closed,
// clean circuit and no rate limit costs in per-handler accounting: the
// circuit's gate, the rate limit's, and recording the success.
func BenchmarkHandlerControls(b *testing.B) {
	d := &Dispatcher{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	t := Target{Name: "h", Timeout: time.Second}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := d.circuitGate(ctx, t, now); !ok {
				b.Fatal("closed circuit refused")
			}
			if _, ok := d.rateGate(t.Name, "r", 0, now); !ok {
				b.Fatal("no rate limit refused")
			}
			d.circuitRecord(ctx, t, false, now)
		}
	})
}
