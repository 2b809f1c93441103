package dispatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
)

// countingStore counts claim transactions.
type countingStore struct {
	hookgate.Store
	claims atomic.Int64
}

func (c *countingStore) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	c.claims.Add(1)
	return c.Store.Claim(ctx, owner, limit, now, lease)
}

type oneTarget struct{ t Target }

func (p oneTarget) Plan(*hookgate.Receipt) ([]Target, hookgate.Status, error) {
	return []Target{p.t}, "", nil
}

type nopPublisher struct{}

func (nopPublisher) Publish(hookgate.Transition) {}

// openDB opens a SQLite store of the test's own, closed when it ends.
func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testDispatcher is a dispatcher over s with one handler, send, and the
// given workers and poll interval.
func testDispatcher(s hookgate.Store, workers int, poll time.Duration, send hookgate.SenderFunc) *Dispatcher {
	return &Dispatcher{
		Store: s, Events: nopPublisher{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: time.Now, Owner: "w", Workers: workers, Lease: time.Minute, PollInterval: poll,
		Planner: oneTarget{Target{Name: "h", Timeout: time.Second, Retry: (&hookgate.RetryPolicy{}).WithDefaults(),
			Sender: send}},
	}
}

// TestClaimsAreBatchedUnderLoad: with a backlog and slow handlers, the
// dispatcher must not spend a claim transaction per receipt (refilling one
// slot at a time); it claims once half its slots are free.
func TestClaimsAreBatchedUnderLoad(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	const n, workers = 80, 8
	now := time.Now()
	for i := range n {
		if _, err := db.Ingest(ctx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c",
			IdempotencyKey: fmt.Sprint("c:e:", i), Status: hookgate.StatusReceived, ReceivedAt: now, Body: []byte(`{}`)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	var delivered atomic.Int64
	cs := &countingStore{Store: db}
	d := testDispatcher(cs, workers, 20*time.Millisecond, func(context.Context, *hookgate.Receipt) (int, bool, error) {
		time.Sleep(2 * time.Millisecond)
		delivered.Add(1)
		return 200, false, nil
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for delivered.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if delivered.Load() != n {
		t.Fatalf("delivered %d of %d", delivered.Load(), n)
	}
	// Each claim takes about workers/2 receipts while the backlog lasts
	// (20 claims here; about 25 are seen with the tail and idle wake-ups);
	// refilling one slot at a time costs about one claim per receipt.
	t.Logf("%d claims", cs.claims.Load())
	if c := cs.claims.Load(); c > 2*n/(workers/2) {
		t.Errorf("%d claim transactions for %d receipts with %d workers: claims are not batched", c, n, workers)
	}
}

// blockingCompletes holds every Complete until released.
type blockingCompletes struct {
	hookgate.Store
	release chan struct{}
	held    atomic.Int64
}

func (b *blockingCompletes) Complete(ctx context.Context, owner string, c hookgate.Completion) ([]hookgate.Transition, error) {
	b.held.Add(1)
	<-b.release
	return b.Store.Complete(ctx, owner, c)
}

// TestSlotFreeBeforeCompletionCommits: a worker's slot bounds deliveries, so
// it is free again once the handler answered, while the outcome waits for
// its commit. With one worker and a commit that does not return, the second
// receipt is still delivered; both outcomes are recorded once released.
func TestSlotFreeBeforeCompletionCommits(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := time.Now()
	var ids []string
	for i := range 2 {
		r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c",
			IdempotencyKey: fmt.Sprint("c:e:", i), Status: hookgate.StatusReceived, ReceivedAt: now, Body: []byte(`{}`)}
		if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	var delivered atomic.Int64
	bs := &blockingCompletes{Store: db, release: make(chan struct{})}
	d := testDispatcher(bs, 1, 10*time.Millisecond, func(context.Context, *hookgate.Receipt) (int, bool, error) {
		delivered.Add(1)
		return 200, false, nil
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if delivered.Load() != 2 || bs.held.Load() != 2 {
		t.Fatalf("with the first outcome not committed: %d delivered, %d completions waiting; want 2 and 2",
			delivered.Load(), bs.held.Load())
	}
	close(bs.release)
	cancel()
	<-done
	for _, id := range ids {
		if r, err := db.Receipt(ctx, id); err != nil || r.Status != hookgate.StatusAcknowledged {
			t.Errorf("receipt %s after release: %v, %v", id, r.Status, err)
		}
	}
}

// heldMeter records, at every claim, how many receipts would be claimed and
// not yet delivered if the claim got all it asks for.
type heldMeter struct {
	hookgate.Store
	claims, claimed, finished atomic.Int64
	maxHeld                   atomic.Int64 // after the first claim
}

func (m *heldMeter) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	held := m.claimed.Load() - m.finished.Load() + int64(limit)
	if m.claims.Add(1) > 1 && held > m.maxHeld.Load() {
		m.maxHeld.Store(held)
	}
	rs, trs, err := m.Store.Claim(ctx, owner, limit, now, lease)
	m.claimed.Add(int64(len(rs)))
	return rs, trs, err
}

// TestClaimsBoundedInBytes: every receipt claimed holds its body until its
// delivery ends, so with large bodies HeldBytes, not the workers, bounds how
// many are claimed at once; everything is still delivered.
func TestClaimsBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	const n, workers, size = 80, 16, 128 << 10
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	now := time.Now()
	for i := range n {
		if _, err := db.Ingest(ctx, &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c",
			IdempotencyKey: fmt.Sprint("c:e:", i), Status: hookgate.StatusReceived, ReceivedAt: now, Body: body}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m := &heldMeter{Store: db}
	d := testDispatcher(m, workers, 20*time.Millisecond, func(_ context.Context, r *hookgate.Receipt) (int, bool, error) {
		defer m.finished.Add(1)
		time.Sleep(5 * time.Millisecond)
		if len(r.Body) != size {
			t.Errorf("delivered a body of %d bytes", len(r.Body))
		}
		return 200, false, nil
	})
	d.HeldBytes = 4 * size // four bodies' worth
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for m.finished.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if m.finished.Load() != n {
		t.Fatalf("delivered %d of %d", m.finished.Load(), n)
	}
	// Without the byte bound up to twice Workers (32) would be claimed at
	// once. The first claim, before body sizes are known, takes a few; after
	// it, four bodies and the one claim that crosses the line.
	if h := m.maxHeld.Load(); h > 6 {
		t.Errorf("up to %d receipts claimed at once with a budget of four bodies", h)
	}
}

// gatedClaim runs the first claim at once and holds its answer until
// released, so that a test can commit a job after that claim looked.
type gatedClaim struct {
	hookgate.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedClaim) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition, error) {
	rs, trs, err := g.Store.Claim(ctx, owner, limit, now, lease)
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return rs, trs, err
}

// TestNotifyDuringClaim: a job committed while a claim is running, after it
// looked, is announced by Notify while the dispatcher waits for that claim.
// The claim comes back short, but the announcement must still bring another
// claim at once rather than at the next PollInterval (an hour here; before
// this was fixed such a receipt waited up to the default 1 s).
func TestNotifyDuringClaim(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	delivered := make(chan string, 1)
	gs := &gatedClaim{Store: db, entered: make(chan struct{}), release: make(chan struct{})}
	d := testDispatcher(gs, 4, time.Hour, func(_ context.Context, r *hookgate.Receipt) (int, bool, error) {
		delivered <- r.ID
		return 200, false, nil
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	<-gs.entered // the first claim found the queue empty
	r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c", IdempotencyKey: "c:e:1",
		Status: hookgate.StatusReceived, ReceivedAt: time.Now(), Body: []byte(`{}`)}
	if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
		t.Fatal(err)
	}
	d.Notify()
	for deadline := time.Now().Add(5 * time.Second); len(d.wake) > 0; { // taken while the claim runs
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher did not take the wake-up")
		}
		time.Sleep(time.Millisecond)
	}
	close(gs.release)
	select {
	case id := <-delivered:
		if id != r.ID {
			t.Fatalf("delivered %s, want %s", id, r.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a job committed during a claim waited for the poll interval")
	}
}
