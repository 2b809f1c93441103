package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// RunLeases runs the lease tests: renewal, takeover, deferral.
func RunLeases(t *testing.T, open func(t *testing.T) hookgate.Store) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s hookgate.Store)
	}{
		{"RenewKeepsLease", testRenewKeepsLease},
		{"RenewReportsLost", testRenewReportsLost},
		{"TakeOverLeases", testTakeOverLeases},
		{"DeferKeepsStatusAndCount", testDeferKeepsStatusAndCount},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// testRenewKeepsLease: a renewed lease is not taken over when the original
// would have expired, and is once the renewal runs out.
func testRenewKeepsLease(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	a, b := newReceipt("primary", "r1", t0), newReceipt("primary", "r2", t0)
	ingest(t, s, a)
	ingest(t, s, b)
	claim(t, s, "w", 2, t0.Add(time.Millisecond), 10*time.Second)
	lost, err := s.RenewLeases(ctx, "w", []string{a.ID, b.ID}, t0.Add(30*time.Second))
	if err != nil || len(lost) != 0 {
		t.Fatalf("renew: lost %v, err %v", lost, err)
	}
	if rs, _ := claim(t, s, "x", 10, t0.Add(20*time.Second), time.Minute); len(rs) != 0 {
		t.Fatalf("renewed leases taken over at their first expiry: %v", ids(rs))
	}
	rs, _ := claim(t, s, "x", 10, t0.Add(30*time.Second+time.Microsecond), time.Minute)
	if got, want := ids(rs), []string{a.ID, b.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the renewal ran out x claimed %v, want %v", got, want)
	}
	if lost, err := s.RenewLeases(ctx, "w", nil, t0); err != nil || len(lost) != 0 {
		t.Fatalf("renewing nothing: lost %v, err %v", lost, err)
	}
}

// testRenewReportsLost: renewal answers the ids the owner no longer holds
// (taken over, completed, unknown) and extends only its own.
func testRenewReportsLost(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	taken, done, kept := newReceipt("primary", "t", t0), newReceipt("primary", "d", t0.Add(time.Microsecond)),
		newReceipt("primary", "k", t0.Add(2*time.Microsecond))
	for _, r := range []*hookgate.Receipt{taken, done, kept} {
		ingest(t, s, r)
	}
	claim(t, s, "w", 3, t0.Add(time.Millisecond), time.Second-time.Millisecond)
	if _, err := s.Complete(ctx, "w", hookgate.Completion{ReceiptID: done.ID, Status: hookgate.StatusAcknowledged, At: t0}); err != nil {
		t.Fatal(err)
	}
	// w renews kept in time, but not taken: x takes it over.
	if lost, err := s.RenewLeases(ctx, "w", []string{kept.ID}, t0.Add(time.Minute)); err != nil || len(lost) != 0 {
		t.Fatalf("renew kept: lost %v, err %v", lost, err)
	}
	rs, _ := claim(t, s, "x", 10, t0.Add(2*time.Second), time.Minute)
	if got := ids(rs); !reflect.DeepEqual(got, []string{taken.ID}) {
		t.Fatalf("x claimed %v, want only %s", got, taken.ID)
	}
	lost, err := s.RenewLeases(ctx, "w", []string{taken.ID, done.ID, kept.ID, "no-such-receipt"}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lost)
	want := []string{taken.ID, done.ID, "no-such-receipt"}
	slices.Sort(want)
	if !reflect.DeepEqual(lost, want) {
		t.Fatalf("lost %v, want %v", lost, want)
	}
	// x's lease is untouched by w's renewal: it expires when x's does.
	if rs, _ := claim(t, s, "y", 10, t0.Add(time.Minute+2*time.Second+time.Microsecond), time.Minute); !reflect.DeepEqual(ids(rs), []string{taken.ID}) {
		t.Fatalf("y claimed %v after x's lease expired, want %s", ids(rs), taken.ID)
	}
}

// testTakeOverLeases: a store that one process owns releases a
// predecessor's leases, so they are due at once; a shared store releases
// none. Either way owner's own leases stay.
func testTakeOverLeases(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	old, own := newReceipt("primary", "old", t0), newReceipt("primary", "own", t0.Add(time.Microsecond))
	ingest(t, s, old)
	ingest(t, s, own)
	claim(t, s, "dead", 1, t0, time.Hour)
	claim(t, s, "new", 1, t0.Add(time.Millisecond), time.Hour)
	n, err := s.TakeOverLeases(ctx, "new")
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := claim(t, s, "new", 10, t0.Add(time.Second), time.Hour)
	switch n {
	case 1:
		if got := ids(rs); !reflect.DeepEqual(got, []string{old.ID}) {
			t.Fatalf("after taking over 1 lease, claimed %v, want %s", got, old.ID)
		}
		if got := get(t, s, old.ID); got.Status != hookgate.StatusDispatched {
			t.Fatalf("reclaimed receipt status %s", got.Status)
		}
	case 0:
		if len(rs) != 0 {
			t.Fatalf("no lease taken over, but claimed %v", ids(rs))
		}
	default:
		t.Fatalf("took over %d leases, want 1 (or 0 on a shared store)", n)
	}
}

// testDeferKeepsStatusAndCount: a deferred receipt is released without an
// attempt counted, keeps the status it was claimed in, records the handlers
// that succeeded, and is due again at its next attempt time.
func testDeferKeepsStatusAndCount(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "defer", t0)
	ingest(t, s, r)
	claim(t, s, "w", 1, t0, time.Minute)
	ok := hookgate.Attempt{Handler: "h0", Number: 1, StartedAt: t0, FinishedAt: t0.Add(time.Millisecond),
		Outcome: hookgate.OutcomeSuccess, StatusCode: 200}
	next := t0.Add(time.Second)
	trs, err := s.Complete(ctx, "w", hookgate.Completion{ReceiptID: r.ID, Deferred: true, Status: hookgate.StatusReceived,
		Reason: "waiting for h1", NextAttemptAt: &next, At: t0.Add(time.Millisecond), Attempts: []hookgate.Attempt{ok}})
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 || trs[0].From != hookgate.StatusDispatched || trs[0].Status != hookgate.StatusReceived {
		t.Fatalf("deferral transitions %+v", trs)
	}
	got := get(t, s, r.ID)
	if got.Status != hookgate.StatusReceived || got.AttemptCount != 0 || got.NextAttemptAt == nil ||
		!got.NextAttemptAt.Equal(next) || len(got.Attempts) != 1 {
		t.Fatalf("after deferral: status %s count %d next %v attempts %+v", got.Status, got.AttemptCount, got.NextAttemptAt, got.Attempts)
	}
	if rs, _ := claim(t, s, "w", 1, next.Add(-time.Microsecond), time.Minute); len(rs) != 0 {
		t.Fatal("deferred receipt claimed before it was due again")
	}
	rs, _ := claim(t, s, "w", 1, next, time.Minute)
	if len(rs) != 1 || rs[0].AttemptCount != 0 || len(rs[0].Attempts) != 1 || rs[0].Attempts[0].Handler != "h0" {
		t.Fatalf("reclaimed deferred receipt %+v", rs)
	}
	// A deferral must say when the receipt is due again, and may only return
	// it to a waiting status.
	_, err = s.Complete(ctx, "w", hookgate.Completion{ReceiptID: r.ID, Deferred: true, Status: hookgate.StatusReceived, At: next})
	wantCode(t, err, hookgate.EInvalid)
	_, err = s.Complete(ctx, "w", hookgate.Completion{ReceiptID: r.ID, Deferred: true, Status: hookgate.StatusAcknowledged,
		NextAttemptAt: &next, At: next})
	wantCode(t, err, hookgate.EInvalid)
}
