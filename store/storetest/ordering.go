package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// RunOrdering runs the ordering-key tests (SPEC §4.2). open returns n stores
// over one new, empty database: the same store n times for a store that one
// process owns (SQLite), n stores of their own for a shared one (PostgreSQL),
// so that claims race as those of several instances do. Run calls it with
// one store.
func RunOrdering(t *testing.T, open func(t *testing.T, n int) []hookgate.Store) {
	t.Run("OrderingClaimsHeadOnly", func(t *testing.T) { testOrderingClaimsHeadOnly(t, open(t, 1)[0]) })
	t.Run("OrderingConcurrentWorkers", func(t *testing.T) { testOrderingConcurrentWorkers(t, open(t, 4)) })
}

// single adapts a one-store opener to RunOrdering.
func single(open func(t *testing.T) hookgate.Store) func(t *testing.T, n int) []hookgate.Store {
	return func(t *testing.T, n int) []hookgate.Store {
		s := open(t)
		out := make([]hookgate.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
}

func keyed(conn, nonce, key string, at time.Time) *hookgate.Receipt {
	r := newReceipt(conn, nonce, at)
	r.OrderingKey = key
	return r
}

func complete(t *testing.T, s hookgate.Store, owner string, c hookgate.Completion) {
	t.Helper()
	if _, err := s.Complete(context.Background(), owner, c); err != nil {
		t.Fatalf("complete %s: %v", c.ReceiptID, err)
	}
}

// testOrderingClaimsHeadOnly: a claim takes only the earliest pending
// receipt of each key (of its connection), with unkeyed receipts and other
// keys alongside; a failed head holds the rest back until it is dead.
func testOrderingClaimsHeadOnly(t *testing.T, s hookgate.Store) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	a1 := keyed("primary", "a1", "A", at(0))
	a2 := keyed("primary", "a2", "A", at(1))
	b1 := keyed("primary", "b1", "B", at(2))
	u1 := newReceipt("primary", "u1", at(3))
	a3 := keyed("primary", "a3", "A", at(4))
	otherA := keyed("other", "oa", "A", at(5)) // the same key on another connection
	for _, r := range []*hookgate.Receipt{a1, a2, b1, u1, a3, otherA} {
		ingest(t, s, r)
	}
	now := at(10)
	rs, _ := claim(t, s, "w", 10, now, time.Hour)
	if got, want := ids(rs), []string{a1.ID, b1.ID, u1.ID, otherA.ID}; !slices.Equal(got, want) {
		t.Fatalf("first claim took %v, want the heads a1, b1, u1 and other's A %v", got, want)
	}
	if rs, _ := claim(t, s, "w", 10, now, time.Hour); len(rs) != 0 {
		t.Fatalf("claimed %v while every key's head is in flight", ids(rs))
	}
	// a1 fails: a2 and a3 wait for its retry, even though they are due.
	retry := now.Add(time.Minute)
	fail := []hookgate.Attempt{{Handler: "h", Number: 1, StartedAt: now, FinishedAt: now, Outcome: hookgate.OutcomeFailure}}
	complete(t, s, "w", hookgate.Completion{ReceiptID: a1.ID, Status: hookgate.StatusFailed, NextAttemptAt: &retry, At: now, Attempts: fail})
	complete(t, s, "w", hookgate.Completion{ReceiptID: b1.ID, Status: hookgate.StatusAcknowledged, At: now})
	if rs, _ := claim(t, s, "w", 10, now.Add(time.Second), time.Hour); len(rs) != 0 {
		t.Fatalf("claimed %v while A's head waits for its retry", ids(rs))
	}
	rs, _ = claim(t, s, "w", 10, retry, time.Hour)
	if got := ids(rs); !slices.Equal(got, []string{a1.ID}) {
		t.Fatalf("retry claim took %v, want only a1", got)
	}
	// Dead ends the head's job: the next one goes.
	complete(t, s, "w", hookgate.Completion{ReceiptID: a1.ID, Status: hookgate.StatusDead, Reason: "gave up", At: retry, Attempts: fail})
	rs, _ = claim(t, s, "w", 10, retry, time.Hour)
	if got := ids(rs); !slices.Equal(got, []string{a2.ID}) {
		t.Fatalf("after a1 died the claim took %v, want a2", got)
	}
	// A deferred head (its handler was busy) still holds the key.
	later := retry.Add(time.Second)
	complete(t, s, "w", hookgate.Completion{ReceiptID: a2.ID, Status: hookgate.StatusReceived, Deferred: true, NextAttemptAt: &later, At: retry})
	if rs, _ := claim(t, s, "w", 10, retry, time.Hour); len(rs) != 0 {
		t.Fatalf("claimed %v while A's head is deferred", ids(rs))
	}
	rs, _ = claim(t, s, "w", 10, later, time.Hour)
	if got := ids(rs); !slices.Equal(got, []string{a2.ID}) {
		t.Fatalf("claim after the deferral took %v, want a2", got)
	}
	complete(t, s, "w", hookgate.Completion{ReceiptID: a2.ID, Status: hookgate.StatusAcknowledged, At: later})
	rs, _ = claim(t, s, "w", 10, later, time.Hour)
	if got := ids(rs); !slices.Equal(got, []string{a3.ID}) {
		t.Fatalf("last claim took %v, want a3", got)
	}
	if got := get(t, s, a3.ID); got.Status != hookgate.StatusDispatched {
		t.Errorf("a3 is %s, want dispatched", got.Status)
	}
}

// orderingBound is how long testOrderingConcurrentWorkers lets its workers
// deliver everything.
const orderingBound = 2 * time.Minute

// testOrderingConcurrentWorkers: 5 keys × 20 receipts and some without a
// key, delivered by 4 workers (each on its own store when stores differ)
// whose destination fails the first attempt of some receipts. Per key the
// destination sees the receipts one at a time and in the order they were
// stored, a failed one retried before any later one; different keys and the
// unkeyed receipts are in flight at the same time.
func testOrderingConcurrentWorkers(t *testing.T, stores []hookgate.Store) {
	const keys, perKey, unkeyed = 5, 20, 10
	index := map[string]int{} // receipt id → its place in its key
	keyOf := map[string]string{}
	n := 0
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprint("order-", k)
			r := keyed("primary", fmt.Sprint(key, "-", i), key, t0.Add(time.Duration(n)*time.Microsecond))
			ingest(t, stores[0], r)
			index[r.ID], keyOf[r.ID] = i, key
			n++
		}
		if i < unkeyed {
			ingest(t, stores[0], newReceipt("primary", fmt.Sprint("free-", i), t0.Add(time.Duration(n)*time.Microsecond)))
			n++
		}
	}
	total := keys*perKey + unkeyed
	now := t0.Add(time.Hour)
	ctx, stop := context.WithTimeout(context.Background(), orderingBound)
	defer stop()
	var (
		mu          sync.Mutex
		inFlight    = map[string]bool{}  // keys being delivered
		seen        = map[string][]int{} // key → places delivered, in delivery order
		failedOnce  = map[string]bool{}
		done        int
		maxParallel int // distinct keys (or unkeyed receipts) in flight at once
		parallel    int
		violations  []string
		wg          sync.WaitGroup
		errs        = make([]error, len(stores))
	)
	for w, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("worker-", w)
			for {
				mu.Lock()
				finished := done == total
				mu.Unlock()
				if finished {
					return
				}
				if ctx.Err() != nil {
					errs[w] = fmt.Errorf("%s: %d of %d receipts delivered after %v", owner, done, total, orderingBound)
					return
				}
				rs, _, err := s.Claim(ctx, owner, 3, now, time.Hour)
				if err != nil {
					errs[w] = err
					return
				}
				if len(rs) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, r := range rs {
					if key := keyOf[r.ID]; key != "" {
						if inFlight[key] {
							violations = append(violations, fmt.Sprintf("%s claimed %s #%d while another of its key was in flight", owner, key, index[r.ID]))
						}
						inFlight[key] = true
						seen[key] = append(seen[key], index[r.ID])
					}
					parallel++
					maxParallel = max(maxParallel, parallel)
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond) // the destination at work
				for _, r := range rs {
					key := keyOf[r.ID]
					c := hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: now}
					mu.Lock()
					if key != "" && index[r.ID]%7 == 3 && !failedOnce[r.ID] {
						failedOnce[r.ID] = true
						c.Status, c.Reason, c.NextAttemptAt = hookgate.StatusFailed, "first attempt fails", &now
					}
					// Out of flight before the outcome commits: the store
					// must not hand out the next one before that.
					delete(inFlight, key)
					parallel--
					mu.Unlock()
					if _, err := s.Complete(ctx, owner, c); err != nil {
						errs[w] = err
						return
					}
					if c.Status == hookgate.StatusAcknowledged {
						mu.Lock()
						done++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(violations) > 0 {
		t.Fatalf("%d receipts claimed beside an earlier one of their key in flight, first: %s", len(violations), violations[0])
	}
	for k := range keys {
		key := fmt.Sprint("order-", k)
		var got, want []int
		for i, place := range seen[key] {
			if i == 0 || place != seen[key][i-1] {
				got = append(got, place) // a retry repeats its place at once
			}
		}
		for i := range perKey {
			want = append(want, i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("key %s delivered in the order %v, want %v", key, seen[key], want)
		}
		if len(seen[key]) != perKey+len(slices.DeleteFunc(slices.Clone(want), func(i int) bool { return i%7 != 3 })) {
			t.Errorf("key %s: %d deliveries, want %d and one retry of each failed one: %v", key, len(seen[key]), perKey, seen[key])
		}
	}
	if maxParallel < 2 {
		t.Errorf("at most %d receipt in flight at once: different keys must go in parallel", maxParallel)
	}
}
