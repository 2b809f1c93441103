package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// RunGroupCommit checks what concurrent writers may rely on when a store
// shares one transaction among them (group commit): each caller gets its own
// result, a failed write fails only its own caller and writes nothing, and a
// caller whose context ended before its write ran writes nothing. Run calls
// it; open is as for Run.
func RunGroupCommit(t *testing.T, open func(t *testing.T) hookgate.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hookgate.Store)
	}{
		{"ConcurrentIngestsAllStored", testConcurrentIngestsAllStored},
		{"FailedIngestFailsAlone", testFailedIngestFailsAlone},
		{"ConcurrentCompleteSomeLost", testConcurrentCompleteSomeLost},
		{"CancelledIngestWritesNothing", testCancelledIngestWritesNothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// concurrently runs fn(i) for i in [0,n) at once and waits.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func testConcurrentIngestsAllStored(t *testing.T, s hookgate.Store) {
	const n = 200
	rs := make([]*hookgate.Receipt, n)
	errs := make([]error, n)
	trs := make([]hookgate.Transition, n)
	for i := range n {
		rs[i] = newReceipt("primary", fmt.Sprint("gc-", i), t0.Add(time.Duration(i)*time.Microsecond))
		if i%10 == 9 {
			rs[i].Status = hookgate.StatusFiltered
		}
	}
	concurrently(n, func(i int) { trs[i], errs[i] = s.Ingest(context.Background(), rs[i], ttl) })
	jobs := 0
	for i, r := range rs {
		if errs[i] != nil {
			t.Fatalf("ingest %d: %v", i, errs[i])
		}
		if trs[i].ReceiptID != r.ID || trs[i].Status != r.Status {
			t.Errorf("ingest %d answered %+v for receipt %s (%s)", i, trs[i], r.ID, r.Status)
		}
		want := hookgate.StatusReceived
		if i%10 == 9 {
			want = hookgate.StatusFiltered
		} else {
			jobs++
		}
		if got := get(t, s, r.ID); got.Status != want || len(got.History) != 1 {
			t.Errorf("receipt %d: status %s history %d, want %s with one transition", i, got.Status, len(got.History), want)
		}
	}
	claimed, _ := claim(t, s, "w", 1000, t0.Add(time.Hour), time.Minute)
	if len(claimed) != jobs {
		t.Errorf("claimed %d jobs, want %d", len(claimed), jobs)
	}
}

// testFailedIngestFailsAlone mixes writes that must fail (a receipt id that
// exists already) with good ones in the same instant: the good ones are
// stored, the failing ones write nothing, not even their idempotency key.
func testFailedIngestFailsAlone(t *testing.T, s hookgate.Store) {
	existing := newReceipt("primary", "exists", t0)
	ingest(t, s, existing)
	const n = 60
	rs := make([]*hookgate.Receipt, n)
	errs := make([]error, n)
	for i := range n {
		rs[i] = newReceipt("primary", fmt.Sprint("mix-", i), t0.Add(time.Second))
		if i%3 == 0 {
			rs[i].ID = existing.ID
		}
	}
	concurrently(n, func(i int) { _, errs[i] = s.Ingest(context.Background(), rs[i], ttl) })
	for i, r := range rs {
		bad := i%3 == 0
		switch {
		case bad && errs[i] == nil:
			t.Errorf("ingest %d with an existing id succeeded", i)
		case !bad && errs[i] != nil:
			t.Errorf("ingest %d failed with its batch: %v", i, errs[i])
		case !bad:
			if got := get(t, s, r.ID); got.Status != hookgate.StatusReceived {
				t.Errorf("ingest %d: stored status %s", i, got.Status)
			}
		}
	}
	// The keys of the failed writes were not kept: the same keys now ingest
	// as fresh deliveries.
	for i := 0; i < n; i += 3 {
		r := newReceipt("primary", fmt.Sprint("mix-", i), t0.Add(2*time.Second))
		if tr := ingest(t, s, r); tr.Status != hookgate.StatusReceived {
			t.Errorf("key of failed ingest %d was kept: %s", i, tr.Status)
		}
	}
	if got := get(t, s, existing.ID); got.IdempotencyKey != existing.IdempotencyKey || len(got.History) != 1 {
		t.Errorf("failed ingests changed the existing receipt: %+v", got)
	}
}

// testConcurrentCompleteSomeLost completes claimed jobs concurrently, some by
// an owner that does not hold the lease: those get EConflict and change
// nothing, the others are recorded.
func testConcurrentCompleteSomeLost(t *testing.T, s hookgate.Store) {
	const n = 40
	for i := range n {
		ingest(t, s, newReceipt("primary", fmt.Sprint("c-", i), t0))
	}
	now := t0.Add(time.Second)
	rs, _ := claim(t, s, "w1", n, now, time.Minute)
	if len(rs) != n {
		t.Fatalf("claimed %d, want %d", len(rs), n)
	}
	errs := make([]error, n)
	concurrently(n, func(i int) {
		owner := "w1"
		if i%4 == 0 {
			owner = "intruder"
		}
		_, errs[i] = s.Complete(context.Background(), owner, hookgate.Completion{
			ReceiptID: rs[i].ID, Status: hookgate.StatusAcknowledged, At: now.Add(time.Millisecond),
			Attempts: []hookgate.Attempt{{Handler: "h", Round: rs[i].Round, Number: 1, StartedAt: now,
				FinishedAt: now.Add(time.Millisecond), Outcome: hookgate.OutcomeSuccess, StatusCode: 200}},
		})
	})
	for i, r := range rs {
		got := get(t, s, r.ID)
		if i%4 == 0 {
			wantCode(t, errs[i], hookgate.EConflict)
			if got.Status != hookgate.StatusDispatched || len(got.Attempts) != 0 {
				t.Errorf("refused completion %d wrote: status %s, %d attempts", i, got.Status, len(got.Attempts))
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("complete %d: %v", i, errs[i])
			continue
		}
		if got.Status != hookgate.StatusAcknowledged || len(got.Attempts) != 1 {
			t.Errorf("completion %d: status %s, %d attempts", i, got.Status, len(got.Attempts))
		}
	}
}

func testCancelledIngestWritesNothing(t *testing.T, s hookgate.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newReceipt("primary", "cancelled", t0)
	if _, err := s.Ingest(ctx, r, ttl); err == nil {
		t.Fatal("ingest with a cancelled context succeeded")
	}
	_, err := s.Receipt(context.Background(), r.ID)
	wantCode(t, err, hookgate.ENotFound)
	if tr := ingest(t, s, newReceipt("primary", "cancelled", t0)); tr.Status != hookgate.StatusReceived {
		t.Errorf("key of a cancelled ingest was kept: %s", tr.Status)
	}
}
