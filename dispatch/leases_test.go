package dispatch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

// failingCompletes fails the first n Completes with a database error.
type failingCompletes struct {
	hookgate.Store
	n atomic.Int64
}

func (f *failingCompletes) Complete(ctx context.Context, owner string, c hookgate.Completion) ([]hookgate.Transition, error) {
	if f.n.Add(-1) >= 0 {
		return nil, errors.New("database is locked")
	}
	return f.Store.Complete(ctx, owner, c)
}

// runDispatcher runs d until the test ends.
func runDispatcher(t *testing.T, d *Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
}

// waitStatus polls until receipt id reaches status, failing after limit.
func waitStatus(t *testing.T, s hookgate.Store, id string, status hookgate.Status, limit time.Duration) *hookgate.Receipt {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r, err := s.Receipt(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipt %s is %s after %v, want %s", id, r.Status, limit, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailedCompletionIsRetried: a completion that fails on a database error
// is written again soon, while the lease is held, instead of leaving the
// receipt for the lease to expire (a minute here) and delivering it twice.
func TestFailedCompletionIsRetried(t *testing.T) {
	db := openDB(t)
	id := queue(t, db, "c", 1)[0]
	fs := &failingCompletes{Store: db}
	fs.n.Store(2)
	var delivered atomic.Int64
	d := testDispatcher(fs, 2, 20*time.Millisecond, func(context.Context, *hookgate.Receipt) (int, bool, error) {
		delivered.Add(1)
		return 200, false, nil
	})
	runDispatcher(t, d)
	r := waitStatus(t, db, id, hookgate.StatusAcknowledged, 10*time.Second)
	if got := delivered.Load(); got != 1 || r.AttemptCount != 1 {
		t.Fatalf("delivered %d times, %d attempts recorded; want once", got, r.AttemptCount)
	}
}

// TestLeaseRenewedWhileDelivering: a delivery that runs for many leases
// keeps its receipt: nobody else can claim it while it runs, and its outcome
// is recorded once it ends.
func TestLeaseRenewedWhileDelivering(t *testing.T) {
	db := openDB(t)
	id := queue(t, db, "c", 1)[0]
	const lease = 300 * time.Millisecond
	started, finish := make(chan time.Time, 1), make(chan struct{})
	d := testDispatcher(db, 2, 20*time.Millisecond, func(context.Context, *hookgate.Receipt) (int, bool, error) {
		started <- time.Now()
		<-finish
		return 200, false, nil
	})
	d.Lease = lease
	runDispatcher(t, d)
	var once sync.Once
	end := func() { once.Do(func() { close(finish) }) }
	t.Cleanup(end) // before Run's cleanup, which waits for the delivery
	var at time.Time
	select {
	case at = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the receipt was not delivered")
	}
	// Four leases after the claim, another worker finds it still leased.
	for time.Since(at) < 4*lease {
		time.Sleep(lease / 4)
	}
	rs, _, err := db.Claim(context.Background(), "other", 10, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Fatalf("a receipt in flight for %v with a %v lease was claimed by another worker", time.Since(at), lease)
	}
	end()
	waitStatus(t, db, id, hookgate.StatusAcknowledged, 10*time.Second)
}

// slowCompletes commits each completion and then waits before answering, so
// the renewal runs after the commit released the lease and before the
// dispatcher learns the outcome is written.
type slowCompletes struct {
	hookgate.Store
	wait time.Duration
}

func (s slowCompletes) Complete(ctx context.Context, owner string, c hookgate.Completion) ([]hookgate.Transition, error) {
	trs, err := s.Store.Complete(ctx, owner, c)
	time.Sleep(s.wait)
	return trs, err
}

// TestRenewalAfterCommitIsNotALostLease: a lease released by the receipt's
// own completion is not "lost while in flight". Under load that window is
// real (the completion joins a group commit), and the warning told
// operators a receipt may be delivered twice when it was not.
func TestRenewalAfterCommitIsNotALostLease(t *testing.T) {
	db := openDB(t)
	id := queue(t, db, "c", 1)[0]
	const lease = 150 * time.Millisecond
	var logs syncBuffer
	d := testDispatcher(slowCompletes{Store: db, wait: 2 * lease}, 2, 20*time.Millisecond,
		func(context.Context, *hookgate.Receipt) (int, bool, error) { return 200, false, nil })
	d.Lease = lease
	d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	runDispatcher(t, d)
	waitStatus(t, db, id, hookgate.StatusAcknowledged, 10*time.Second)
	time.Sleep(3 * lease) // the slow completion answers; renewals run meanwhile
	if strings.Contains(logs.String(), "lease lost") {
		t.Fatalf("a lease released by its own completion was reported lost:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
