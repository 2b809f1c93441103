package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// testCircuits: a store that keeps circuit breakers counts failures, opens
// at the threshold, grants one probe of concurrent askers, reopens on a
// failed probe, closes on success, and wakes the receipts that wait with a
// reason (Expedite) and no others.
func testCircuits(t *testing.T, s hookgate.Store) {
	cs, ok := s.(hookgate.CircuitStore)
	if !ok {
		t.Skip("the store keeps no circuits")
	}
	ctx := context.Background()
	const reset = time.Hour
	if all, err := cs.Circuits(ctx); err != nil || len(all) != 0 {
		t.Fatalf("circuits of a new store: %v, %v", all, err)
	}
	for i := 1; i <= 3; i++ {
		before, after, err := cs.CircuitFailed(ctx, "h", t0, 3, reset)
		if err != nil {
			t.Fatal(err)
		}
		if before.ConsecutiveFailures != i-1 || after.ConsecutiveFailures != i {
			t.Fatalf("failure %d: %+v → %+v", i, before, after)
		}
		if want := map[bool]hookgate.CircuitState{true: hookgate.CircuitOpen, false: hookgate.CircuitClosed}[i == 3]; after.State != want {
			t.Fatalf("failure %d: state %s, want %s", i, after.State, want)
		}
	}
	all, err := cs.Circuits(ctx)
	if err != nil || len(all) != 1 || all[0].State != hookgate.CircuitOpen || !all[0].OpenedAt.Equal(t0) || !all[0].RetryAt.Equal(t0.Add(reset)) {
		t.Fatalf("stored: %+v, %v", all, err)
	}
	if _, ok, err := cs.CircuitProbe(ctx, "h", t0.Add(time.Minute), time.Minute); err != nil || ok {
		t.Fatalf("probe before retry_at: %v, %v", ok, err)
	}
	// Of concurrent askers, one probes.
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		probes int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := cs.CircuitProbe(ctx, "h", t0.Add(reset), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d probes granted, want 1", probes)
	}
	_, after, err := cs.CircuitFailed(ctx, "h", t0.Add(reset), 3, reset)
	if err != nil || after.State != hookgate.CircuitOpen || !after.RetryAt.Equal(t0.Add(2*reset)) {
		t.Fatalf("failed probe: %+v, %v", after, err)
	}
	before, after, err := cs.CircuitSucceeded(ctx, "h")
	if err != nil || before.State != hookgate.CircuitOpen || after.State != hookgate.CircuitClosed || after.ConsecutiveFailures != 0 ||
		!after.OpenedAt.IsZero() || after.Version <= before.Version {
		t.Fatalf("success: %+v → %+v, %v", before, after, err)
	}
	if _, after, err := cs.CircuitSucceeded(ctx, "never-failed"); err != nil || !after.Closed() {
		t.Fatalf("success of a clean handler: %+v, %v", after, err)
	}

	// Expedite: two receipts wait for the circuit, one for a retry.
	const reason = "waiting for handler h: its circuit is open"
	var waiting []string
	for i, why := range []string{reason, reason, "destination answered 500"} {
		r := newReceipt("c", "x"+string(rune('a'+i)), t0)
		ingest(t, s, r)
		rs, _ := claim(t, s, "w", 1, t0, time.Minute)
		next := t0.Add(reset)
		if _, err := s.Complete(ctx, "w", hookgate.Completion{ReceiptID: rs[0].ID, Status: hookgate.StatusReceived,
			Deferred: true, Reason: why, NextAttemptAt: &next, At: t0}); err != nil {
			t.Fatal(err)
		}
		if why == reason {
			waiting = append(waiting, rs[0].ID)
		}
	}
	n, err := cs.Expedite(ctx, reason, t0.Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("expedited %d, %v; want 2", n, err)
	}
	rs, _ := claim(t, s, "w", 10, t0.Add(time.Second), time.Minute)
	if got := ids(rs); len(got) != 2 || !sameSet(got, waiting) {
		t.Fatalf("due after expedite: %v, want %v", got, waiting)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
