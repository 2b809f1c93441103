package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// RunSync checks the storage of synchronous routes and job results (SPEC
// §4.2): a delivery ingested with its job leased, and the replies kept with
// the attempts.
func RunSync(t *testing.T, open func(t *testing.T) hookgate.Store) {
	for name, fn := range map[string]func(t *testing.T, s hookgate.Store){
		"IngestLeased":           testIngestLeased,
		"IngestLeasedDuplicate":  testIngestLeasedDuplicate,
		"IngestLeasedCrash":      testIngestLeasedCrash,
		"RepliesKept":            testRepliesKept,
		"JobResultOtherConn":     testJobResultOtherConnection,
		"PruneReceiptsReplies":   testPruneReceiptsReplies,
		"RepliesOfFailedRetries": testRepliesOfRetries,
	} {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

func ingestLeased(t *testing.T, s hookgate.Store, r *hookgate.Receipt, owner string, until time.Time) []hookgate.Transition {
	t.Helper()
	trs, err := s.IngestLeased(context.Background(), r, ttl, owner, until)
	if err != nil {
		t.Fatalf("ingest leased %s: %v", r.IdempotencyKey, err)
	}
	return trs
}

func testIngestLeased(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "sync", t0)
	trs := ingestLeased(t, s, r, "inline", t0.Add(time.Minute))
	if got := statuses(trs); len(got) != 2 || got[0] != ">received" || got[1] != "received>dispatched" {
		t.Fatalf("transitions = %v, want received then dispatched", got)
	}
	got := get(t, s, r.ID)
	if got.Status != hookgate.StatusDispatched {
		t.Errorf("status = %s, want dispatched (leased)", got.Status)
	}
	if h := statuses(got.History); len(h) != 2 || h[1] != "received>dispatched" {
		t.Errorf("history = %v", h)
	}
	// No dispatcher claims it while the lease holds, though it is due.
	if rs, _ := claim(t, s, "dispatcher", 10, t0.Add(time.Second), time.Minute); len(rs) != 0 {
		t.Fatalf("claimed a leased sync receipt: %v", ids(rs))
	}
	// Its owner completes it like any claimed receipt.
	trs2, err := s.Complete(ctx, "inline", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: t0.Add(time.Second), Attempts: []hookgate.Attempt{{Handler: "h", Number: 1, StartedAt: t0, FinishedAt: t0,
			Outcome: hookgate.OutcomeSuccess, StatusCode: 200}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(trs2) != 1 || trs2[0].Status != hookgate.StatusAcknowledged {
		t.Fatalf("complete transitions = %+v", trs2)
	}
	if got := get(t, s, r.ID); got.Status != hookgate.StatusAcknowledged || got.NextAttemptAt != nil {
		t.Errorf("after complete: %s, next %v", got.Status, got.NextAttemptAt)
	}
}

func testIngestLeasedDuplicate(t *testing.T, s hookgate.Store) {
	first := newReceipt("primary", "same", t0)
	ingest(t, s, first)
	dup := newReceipt("primary", "same", t0.Add(time.Second))
	trs := ingestLeased(t, s, dup, "inline", t0.Add(time.Minute))
	if len(trs) != 1 || trs[0].Status != hookgate.StatusDuplicate || dup.DuplicateOf != first.ID {
		t.Fatalf("transitions %+v duplicate_of %q, want one duplicate of %s", trs, dup.DuplicateOf, first.ID)
	}
	if got := get(t, s, dup.ID); got.Status != hookgate.StatusDuplicate || got.NextAttemptAt != nil {
		t.Errorf("duplicate stored as %s with job %v", got.Status, got.NextAttemptAt)
	}
}

// A process that dies mid-sync loses nothing: its lease expires (or is
// taken over at restart) and a dispatcher claims the receipt.
func testIngestLeasedCrash(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "crash", t0)
	ingestLeased(t, s, r, "dead-process", t0.Add(10*time.Second))
	rs, _ := claim(t, s, "dispatcher", 10, t0.Add(11*time.Second), time.Minute)
	if len(rs) != 1 || rs[0].ID != r.ID {
		t.Fatalf("after the lease expired, claimed %v, want %s", ids(rs), r.ID)
	}
	if !bytes.Equal(rs[0].Body, r.Body) {
		t.Errorf("claimed body %q, want %q", rs[0].Body, r.Body)
	}
	// The dead process's late completion is refused.
	_, err := s.Complete(ctx, "dead-process", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: t0})
	wantCode(t, err, hookgate.EConflict)
}

func testRepliesKept(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "replies", t0)
	ingestLeased(t, s, r, "inline", t0.Add(time.Minute))
	bin := []byte{0xff, 0x00, 'x'}
	_, err := s.Complete(ctx, "inline", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: t0,
		Attempts: []hookgate.Attempt{
			{Handler: "a", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeSuccess, StatusCode: 200,
				Reply: &hookgate.Reply{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`)}},
			{Handler: "b", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeSuccess, StatusCode: 202,
				Reply: &hookgate.Reply{StatusCode: 202, Body: bin}, ReplyTruncated: true},
			{Handler: "c", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeSuccess, StatusCode: 204},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, read := range []func() (*hookgate.Receipt, error){
		func() (*hookgate.Receipt, error) { return s.Receipt(ctx, r.ID) },
		func() (*hookgate.Receipt, error) { return s.JobResult(ctx, r.ID, []string{"other", "primary"}) },
	} {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Attempts) != 3 {
			t.Fatalf("attempts = %+v", got.Attempts)
		}
		a, b, c := got.Attempts[0], got.Attempts[1], got.Attempts[2]
		if a.Reply == nil || a.Reply.ContentType != "application/json" || string(a.Reply.Body) != `{"ok":true}` ||
			a.Reply.StatusCode != 200 || a.ReplyTruncated {
			t.Errorf("reply of a = %+v (truncated %v)", a.Reply, a.ReplyTruncated)
		}
		if b.Reply == nil || !bytes.Equal(b.Reply.Body, bin) || b.Reply.ContentType != "" || !b.ReplyTruncated {
			t.Errorf("reply of b = %+v (truncated %v)", b.Reply, b.ReplyTruncated)
		}
		if c.Reply != nil || c.StatusCode != 204 {
			t.Errorf("c answered no body: reply %+v, status %d", c.Reply, c.StatusCode)
		}
		if got.Status != hookgate.StatusAcknowledged {
			t.Errorf("status = %s", got.Status)
		}
	}
	if jr, _ := s.JobResult(ctx, r.ID, []string{"primary"}); jr != nil && (jr.Body != nil || jr.Headers != nil) {
		t.Errorf("a job result carries the receipt's headers or body")
	}
}

func testJobResultOtherConnection(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "mine", t0)
	ingest(t, s, r)
	_, errOther := s.JobResult(ctx, r.ID, []string{"secondary"})
	wantCode(t, errOther, hookgate.ENotFound)
	_, errMissing := s.JobResult(ctx, "no-such-receipt", []string{"primary"})
	wantCode(t, errMissing, hookgate.ENotFound)
	if hookgate.ErrorMessage(errOther) != "receipt "+r.ID+" not found" {
		t.Errorf("message %q names more than the id asked for", hookgate.ErrorMessage(errOther))
	}
	_, err := s.JobResult(ctx, r.ID, nil)
	wantCode(t, err, hookgate.ENotFound)
	got, err := s.JobResult(ctx, r.ID, []string{"primary"})
	if err != nil || got.ID != r.ID || got.Status != hookgate.StatusReceived {
		t.Fatalf("own receipt: %+v, %v", got, err)
	}
}

func testRepliesOfRetries(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "retries", t0)
	ingest(t, s, r)
	claim(t, s, "w", 1, t0, time.Minute)
	next := t0.Add(time.Second)
	if _, err := s.Complete(ctx, "w", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusFailed, NextAttemptAt: &next, At: t0,
		Attempts: []hookgate.Attempt{{Handler: "a", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeFailure,
			StatusCode: 503, Error: "busy", Reply: &hookgate.Reply{StatusCode: 503, ContentType: "text/plain", Body: []byte("busy")}}}}); err != nil {
		t.Fatal(err)
	}
	claim(t, s, "w", 1, next, time.Minute)
	if _, err := s.Complete(ctx, "w", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: next,
		Attempts: []hookgate.Attempt{{Handler: "a", Number: 2, StartedAt: next, FinishedAt: next, Outcome: hookgate.OutcomeSuccess,
			StatusCode: 200, Reply: &hookgate.Reply{StatusCode: 200, ContentType: "text/plain", Body: []byte("done")}}}}); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, r.ID)
	if len(got.Attempts) != 2 || got.Attempts[0].Reply == nil || string(got.Attempts[0].Reply.Body) != "busy" ||
		got.Attempts[1].Reply == nil || string(got.Attempts[1].Reply.Body) != "done" {
		t.Fatalf("attempts = %+v", got.Attempts)
	}
}

func testPruneReceiptsReplies(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "old", t0)
	ingestLeased(t, s, r, "inline", t0.Add(time.Minute))
	if _, err := s.Complete(ctx, "inline", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: t0,
		Attempts: []hookgate.Attempt{{Handler: "a", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeSuccess,
			StatusCode: 200, Reply: &hookgate.Reply{StatusCode: 200, Body: []byte("x")}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneReceipts(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if _, err := s.Receipt(ctx, r.ID); hookgate.ErrorCode(err) != hookgate.ENotFound {
		t.Fatalf("receipt after prune: %v", err)
	}
}
