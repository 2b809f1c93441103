package storetest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

// bodiesKept counts the receipts among ids that still have a body.
func bodiesKept(t *testing.T, s hookgate.Store, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		if get(t, s, id).Body != nil {
			n++
		}
	}
	return n
}

// testPruneRejectedBudget: a connection's rejected receipts keep their
// headers and bodies within the byte budget (headers count), oldest dropped
// first, and the receipt, reason and trace stay; a pass within budget drops
// nothing; a later pass drops only what came beyond the budget since.
func testPruneRejectedBudget(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	// Headers "null" (4 bytes) + 100 bytes of body: 104 bytes each.
	for i, id := range []string{"old", "mid", "new"} {
		rejected(t, s, "c", id, t0.Add(time.Duration(i)*time.Second), make([]byte, 100))
	}
	rejected(t, s, "other", "elsewhere", t0, make([]byte, 100))
	budget := hookgate.RejectedBudget{Bytes: 250}
	dropped, deleted, err := s.PruneRejected(ctx, "c", budget)
	if err != nil || dropped != 1 || deleted != 0 {
		t.Fatalf("prune = %d dropped, %d deleted, %v; want 1, 0", dropped, deleted, err)
	}
	if get(t, s, "old").Body != nil || get(t, s, "mid").Body == nil || get(t, s, "new").Body == nil {
		t.Fatal("the oldest body must go first")
	}
	if old := get(t, s, "old"); old.Status != hookgate.StatusRejected || len(old.Trace) == 0 || old.Reason == "" {
		t.Fatal("pruning a body must keep the receipt, its reason and its trace")
	}
	if get(t, s, "elsewhere").Body == nil {
		t.Fatal("another connection's budget was touched")
	}
	if dropped, _, err := s.PruneRejected(ctx, "c", budget); err != nil || dropped != 0 {
		t.Fatalf("a pass within budget dropped %d, %v", dropped, err)
	}

	// Headers count: a receipt with 200 bytes of headers and no body.
	r := &hookgate.Receipt{ID: "headers", ConnectionType: "github", Connection: "c", ReceivedAt: t0.Add(3 * time.Second),
		Status: hookgate.StatusRejected, Reason: "payload_too_large",
		Headers: http.Header{"X-Pad": {strings.Repeat("h", 200)}}}
	if _, err := s.Record(ctx, r); err != nil {
		t.Fatal(err)
	}
	if dropped, _, err = s.PruneRejected(ctx, "c", budget); err != nil || dropped != 2 {
		t.Fatalf("after a 200-byte header: dropped %d, %v; want 2 (mid and new)", dropped, err)
	}
	if got := get(t, s, "headers"); got.Headers.Get("X-Pad") == "" {
		t.Fatal("the newest receipt lost its headers")
	}
	if got := get(t, s, "mid"); len(got.Headers) != 0 || got.Body != nil {
		t.Fatalf("a dropped receipt keeps headers %v", got.Headers)
	}
}

// testPruneRejectedMany: the budget is enforced over more receipts than one
// pruning step takes, by count (the oldest are deleted) and by bytes.
func testPruneRejectedMany(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	const n = 1300
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = fmt.Sprintf("rej-%04d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rejected(t, s, "c", ids[i], t0.Add(time.Duration(i)*time.Millisecond), make([]byte, 96))
		}()
	}
	wg.Wait()
	// Keep 1,200 receipts, and the bodies of 100 (100 bytes each with "null").
	dropped, deleted, err := s.PruneRejected(ctx, "c", hookgate.RejectedBudget{Bytes: 100 * 100, Receipts: 1200})
	if err != nil || deleted != 100 || dropped != 1100 {
		t.Fatalf("prune = %d dropped, %d deleted, %v; want 1100, 100", dropped, deleted, err)
	}
	for _, id := range ids[:100] {
		if _, err := s.Receipt(ctx, id); hookgate.ErrorCode(err) != hookgate.ENotFound {
			t.Fatalf("receipt %s beyond the count is still there (%v)", id, err)
		}
	}
	if got := bodiesKept(t, s, ids[n-100:]); got != 100 {
		t.Fatalf("the newest 100 kept %d bodies", got)
	}
	if got := bodiesKept(t, s, ids[100:n-100]); got != 0 {
		t.Fatalf("%d bodies beyond the budget kept", got)
	}
	// New rejections: the next pass drops only what passed the budget.
	for i := range 10 {
		rejected(t, s, "c", fmt.Sprintf("late-%d", i), t0.Add(time.Hour+time.Duration(i)), make([]byte, 96))
	}
	dropped, deleted, err = s.PruneRejected(ctx, "c", hookgate.RejectedBudget{Bytes: 100 * 100, Receipts: 1200})
	if err != nil || dropped != 10 || deleted != 10 {
		t.Fatalf("second prune = %d dropped, %d deleted, %v; want 10, 10", dropped, deleted, err)
	}
}

// testRecordCapsHeaders: a recorded receipt keeps at most 1 KiB of a header
// value and 8 KiB of headers, the small headers first, so a forged request
// cannot store 64 KiB of headers; the signature headers stay intact.
func testRecordCapsHeaders(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	sig := "sha256=" + strings.Repeat("ab", 32)
	h := http.Header{
		"X-Hub-Signature-256": {sig},
		"X-Github-Event":      {"push"},
		"X-Huge":              {strings.Repeat("x", 60<<10)},
	}
	for i := range 40 {
		h.Set(fmt.Sprintf("X-Pad-%02d", i), strings.Repeat("p", 900))
	}
	r := &hookgate.Receipt{ID: "capped", ConnectionType: "github", Connection: "c", ReceivedAt: t0,
		Status: hookgate.StatusRejected, Reason: "signature_mismatch", Headers: h, Body: []byte(`{}`)}
	if _, err := s.Record(ctx, r); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, "capped").Headers
	size := 0
	for name, vs := range got {
		for _, v := range vs {
			size += len(name) + len(v)
		}
	}
	if size > 9<<10 {
		t.Fatalf("stored %d bytes of headers, want at most about 8 KiB", size)
	}
	if got.Get("X-Hub-Signature-256") != sig || got.Get("X-Github-Event") != "push" {
		t.Fatalf("small headers were not kept intact: %v", got)
	}
	if v := got.Get("X-Huge"); len(v) > 2<<10 {
		t.Fatalf("a 60 KiB header value kept %d bytes", len(v))
	}
	if got.Get("Hookgate-Dropped-Headers") == "" {
		t.Fatalf("dropped headers are not marked: %v", got)
	}
}

// testPruneReceipts: retention deletes receipts done with dispatch that are
// older than the cut-off, with their bodies, in as many steps as it takes,
// and never a receipt with a job (due, failed with a retry, or leased) nor a
// held one.
func testPruneReceipts(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	cut := t0.Add(24 * time.Hour)
	old := func(key string, status hookgate.Status) *hookgate.Receipt {
		r := newReceipt("c", key, t0)
		r.Status = status
		ingest(t, s, r)
		return r
	}
	complete := func(r *hookgate.Receipt, c hookgate.Completion) {
		t.Helper()
		c.ReceiptID, c.At = r.ID, t0
		c.Attempts = []hookgate.Attempt{{Handler: "h", Number: 1, Outcome: hookgate.OutcomeSuccess, StartedAt: t0, FinishedAt: t0}}
		if _, err := s.Complete(ctx, "w", c); err != nil {
			t.Fatal(err)
		}
	}
	acked, dead, retrying, leased := old("acked", ""), old("dead", ""), old("retrying", ""), old("leased", "")
	claim(t, s, "w", 10, t0, time.Minute)
	complete(acked, hookgate.Completion{Status: hookgate.StatusAcknowledged})
	complete(dead, hookgate.Completion{Status: hookgate.StatusDead, Reason: "gave up"})
	next := t0.Add(time.Minute)
	complete(retrying, hookgate.Completion{Status: hookgate.StatusFailed, NextAttemptAt: &next})
	// leased stays claimed, its lease long expired by cut: still a job.
	due := old("due", hookgate.StatusReceived)
	held := old("held", hookgate.StatusHeld)
	rejected(t, s, "c", "rejected-old", t0, []byte(`{}`))
	recent := newReceipt("c", "recent", cut)
	recent.Status = hookgate.StatusFiltered
	ingest(t, s, recent)
	// More than one step's worth of old filtered receipts.
	const many = 1100
	var wg sync.WaitGroup
	for i := range many {
		wg.Add(1)
		go func() { defer wg.Done(); old(fmt.Sprint("f", i), hookgate.StatusFiltered) }()
	}
	wg.Wait()

	n, err := s.PruneReceipts(ctx, cut)
	if err != nil || n != many+3 {
		t.Fatalf("pruned %d, %v; want %d (acknowledged, dead, rejected and the filtered)", n, err, many+3)
	}
	for _, id := range []string{acked.ID, dead.ID, "rejected-old"} {
		if _, err := s.Receipt(ctx, id); hookgate.ErrorCode(err) != hookgate.ENotFound {
			t.Errorf("receipt %s past retention is still there (%v)", id, err)
		}
	}
	for _, r := range []*hookgate.Receipt{retrying, leased, due, held, recent} {
		if _, err := s.Receipt(ctx, r.ID); err != nil {
			t.Errorf("receipt %s (%s) was pruned: %v", r.ID, r.Nonce, err)
		}
	}
	if rs, _, err := s.Receipts(ctx, hookgate.ReceiptFilter{Connection: "c", Status: hookgate.StatusFiltered, Limit: 10}); err != nil || len(rs) != 1 {
		t.Fatalf("filtered receipts left: %d, %v; want the recent one", len(rs), err)
	}
	if n, err := s.PruneReceipts(ctx, cut); err != nil || n != 0 {
		t.Fatalf("second prune: %d, %v", n, err)
	}
	// The keys of pruned receipts keep deduplicating until they expire.
	if tr := ingest(t, s, newReceipt("c", "acked", t0.Add(time.Minute))); tr.Status != hookgate.StatusDuplicate {
		t.Fatalf("the key of a pruned receipt: %s", tr.Status)
	}
}
