// Package storetest is the conformance suite of hookgate.Store: every storage
// implementation runs the same tests, so SQLite and PostgreSQL behave alike
// for ingest, deduplication, the dispatch queue and listing.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	hookgate "github.com/hookgate/hookgate"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) hookgate.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hookgate.Store)
	}{
		{"IngestReadBack", testIngestReadBack},
		{"IngestStatusesWithoutJob", testIngestStatusesWithoutJob},
		{"IngestFailureWritesNothing", testIngestFailureWritesNothing},
		{"ReceiptNotFound", testReceiptNotFound},
		{"Duplicate", testDuplicate},
		{"IdempotencyTTL", testIdempotencyTTL},
		{"ConcurrentIngestSameKey", testConcurrentIngestSameKey},
		{"Record", testRecord},
		{"ClaimLeasesAndExcludes", testClaimLeasesAndExcludes},
		{"ExpiredLeaseReclaimed", testExpiredLeaseReclaimed},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"CompleteByNonOwner", testCompleteByNonOwner},
		{"RetryScheduling", testRetryScheduling},
		{"Replay", testReplay},
		{"ReplayRefused", testReplayRefused},
		{"ListingOrderAndPaging", testListingOrderAndPaging},
		{"ListingFilters", testListingFilters},
		{"ListingBadCursor", testListingBadCursor},
		{"HistoryOrder", testHistoryOrder},
		{"Connections", testConnections},
		{"Handlers", testHandlers},
		{"PruneIdempotencyKeys", testPruneIdempotencyKeys},
		{"Admit", testAdmit},
		{"PruneRejectedBudget", testPruneRejectedBudget},
		{"PruneRejectedMany", testPruneRejectedMany},
		{"RecordCapsHeaders", testRecordCapsHeaders},
		{"PruneReceipts", testPruneReceipts},
		{"Circuits", testCircuits},
		{"Ping", func(t *testing.T, s hookgate.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("GroupCommit", func(t *testing.T) { RunGroupCommit(t, open) })
	t.Run("Leases", func(t *testing.T) { RunLeases(t, open) })
	t.Run("Ordering", func(t *testing.T) { RunOrdering(t, single(open)) })
	t.Run("Sync", func(t *testing.T) { RunSync(t, open) })
}

// t0 is the suite's clock origin; all times are whole microseconds, the
// precision stores keep.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

const ttl = time.Hour

func newReceipt(conn, key string, at time.Time) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID:             uuid.Must(uuid.NewV7()).String(),
		ConnectionType: "github",
		Connection:     conn,
		EventType:      "push",
		Nonce:          key,
		IdempotencyKey: conn + ":push:" + key,
		Status:         hookgate.StatusReceived,
		ReceivedAt:     at,
		Headers:        http.Header{"X-Github-Event": {"push"}},
		Body:           []byte(`{"key":"` + key + `"}`),
		SecretID:       "s1",
	}
}

func ingest(t *testing.T, s hookgate.Store, r *hookgate.Receipt) hookgate.Transition {
	t.Helper()
	tr, err := s.Ingest(context.Background(), r, ttl)
	if err != nil {
		t.Fatalf("ingest %s: %v", r.IdempotencyKey, err)
	}
	return tr
}

func get(t *testing.T, s hookgate.Store, id string) *hookgate.Receipt {
	t.Helper()
	r, err := s.Receipt(context.Background(), id)
	if err != nil {
		t.Fatalf("receipt %s: %v", id, err)
	}
	return r
}

func claim(t *testing.T, s hookgate.Store, owner string, limit int, now time.Time, lease time.Duration) ([]*hookgate.Receipt, []hookgate.Transition) {
	t.Helper()
	rs, trs, err := s.Claim(context.Background(), owner, limit, now, lease)
	if err != nil {
		t.Fatalf("claim by %s: %v", owner, err)
	}
	if len(rs) != len(trs) {
		t.Fatalf("claim returned %d receipts but %d transitions", len(rs), len(trs))
	}
	return rs, trs
}

func ids(rs []*hookgate.Receipt) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %s", code)
	}
	if got := hookgate.ErrorCode(err); got != code {
		t.Fatalf("error code = %s, want %s (err: %v)", got, code, err)
	}
}

func statuses(h []hookgate.Transition) []string {
	out := make([]string, len(h))
	for i, tr := range h {
		out[i] = string(tr.From) + ">" + string(tr.Status)
	}
	return out
}

func testIngestReadBack(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	body := []byte{0xff, 0xfe, 0x00, 'h', 'i', 0x80, '\n', 0xc3} // not UTF-8, with NUL
	r := newReceipt("primary", "n1", t0)
	r.Body = body
	r.Headers = http.Header{
		"X-Github-Event":  {"push"},
		"X-Multi":         {"a", "b, c", ""},
		"Content-Type":    {"application/json"},
		"X-Hub-Signature": {"sha256=abc"},
	}
	r.Trace = []byte(`{"header":"X-Hub-Signature-256"}`)
	tr, err := s.Ingest(ctx, r, ttl)
	if err != nil {
		t.Fatal(err)
	}
	want := hookgate.Transition{ReceiptID: r.ID, Connection: "primary", Status: hookgate.StatusReceived, At: t0}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("transition = %+v, want %+v", tr, want)
	}
	if r.Status != hookgate.StatusReceived || r.DuplicateOf != "" {
		t.Errorf("after ingest: status %s, duplicate_of %q", r.Status, r.DuplicateOf)
	}

	got := get(t, s, r.ID)
	if !bytes.Equal(got.Body, body) {
		t.Errorf("body = %x, want %x", got.Body, body)
	}
	if !reflect.DeepEqual(got.Headers, r.Headers) {
		t.Errorf("headers = %v, want %v", got.Headers, r.Headers)
	}
	if string(got.Trace) != string(r.Trace) {
		t.Errorf("trace = %s, want %s", got.Trace, r.Trace)
	}
	for name, pair := range map[string][2]any{
		"id":              {got.ID, r.ID},
		"connection_type": {got.ConnectionType, "github"},
		"connection":      {got.Connection, "primary"},
		"event_type":      {got.EventType, "push"},
		"nonce":           {got.Nonce, "n1"},
		"idempotency_key": {got.IdempotencyKey, "primary:push:n1"},
		"status":          {got.Status, hookgate.StatusReceived},
		"reason":          {got.Reason, ""},
		"duplicate_of":    {got.DuplicateOf, ""},
		"secret_id":       {got.SecretID, "s1"},
		"attempt_count":   {got.AttemptCount, 0},
		"round":           {got.Round, 0},
		"attempts":        {len(got.Attempts), 0},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
		}
	}
	if !got.ReceivedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("received_at %v updated_at %v, want %v", got.ReceivedAt, got.UpdatedAt, t0)
	}
	if got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(t0) {
		t.Errorf("next_attempt_at = %v, want %v (due at once)", got.NextAttemptAt, t0)
	}
	if len(got.History) != 1 || !reflect.DeepEqual(got.History[0], want) {
		t.Errorf("history = %+v, want [%+v]", got.History, want)
	}

	// An empty body stays empty; a nil header map reads back empty.
	e := newReceipt("primary", "empty", t0)
	e.Body, e.Headers = []byte{}, nil
	ingest(t, s, e)
	if got := get(t, s, e.ID); len(got.Body) != 0 || len(got.Headers) != 0 {
		t.Errorf("empty receipt read back body %q headers %v", got.Body, got.Headers)
	}
}

func testIngestStatusesWithoutJob(t *testing.T, s hookgate.Store) {
	for _, st := range []hookgate.Status{hookgate.StatusFiltered, hookgate.StatusHeld} {
		r := newReceipt("primary", string(st), t0)
		r.Status = st
		tr := ingest(t, s, r)
		if tr.Status != st || r.Status != st {
			t.Errorf("ingest %s: transition %s, receipt %s", st, tr.Status, r.Status)
		}
		if got := get(t, s, r.ID); got.Status != st || got.NextAttemptAt != nil {
			t.Errorf("%s receipt: status %s next_attempt_at %v, want no job", st, got.Status, got.NextAttemptAt)
		}
	}
	if rs, _ := claim(t, s, "w", 10, t0.Add(time.Hour), time.Minute); len(rs) != 0 {
		t.Errorf("claimed %d receipts that have no job", len(rs))
	}
}

func testIngestFailureWritesNothing(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	a := newReceipt("primary", "a", t0)
	ingest(t, s, a)
	// Same receipt id, new key: the receipt insert fails after the key
	// upsert, and the transaction must take the key back.
	b := newReceipt("primary", "b", t0)
	b.ID = a.ID
	if _, err := s.Ingest(ctx, b, ttl); err == nil {
		t.Fatal("ingest of an existing receipt id succeeded")
	}
	c := newReceipt("primary", "b", t0.Add(time.Second))
	if tr := ingest(t, s, c); tr.Status != hookgate.StatusReceived {
		t.Errorf("key of a failed ingest was kept: status %s, want received", tr.Status)
	}
	if got := get(t, s, a.ID); got.IdempotencyKey != "primary:push:a" || len(got.History) != 1 {
		t.Errorf("failed ingest changed the existing receipt: %+v", got)
	}
}

func testReceiptNotFound(t *testing.T, s hookgate.Store) {
	_, err := s.Receipt(context.Background(), "no-such-receipt")
	wantCode(t, err, hookgate.ENotFound)
}

func testDuplicate(t *testing.T, s hookgate.Store) {
	first := newReceipt("primary", "d1", t0)
	ingest(t, s, first)
	dup := newReceipt("primary", "d1", t0.Add(time.Minute))
	tr := ingest(t, s, dup)
	if tr.Status != hookgate.StatusDuplicate || tr.From != "" {
		t.Errorf("transition = %+v, want \"\" > duplicate", tr)
	}
	if dup.Status != hookgate.StatusDuplicate || dup.DuplicateOf != first.ID {
		t.Errorf("receipt status %s duplicate_of %q, want duplicate of %s", dup.Status, dup.DuplicateOf, first.ID)
	}
	got := get(t, s, dup.ID)
	if got.Status != hookgate.StatusDuplicate || got.DuplicateOf != first.ID || got.NextAttemptAt != nil {
		t.Errorf("stored duplicate: status %s duplicate_of %q next %v", got.Status, got.DuplicateOf, got.NextAttemptAt)
	}
	if !bytes.Equal(got.Body, dup.Body) {
		t.Errorf("duplicate body not kept")
	}
	// Another key is not a duplicate.
	if tr := ingest(t, s, newReceipt("primary", "d2", t0)); tr.Status != hookgate.StatusReceived {
		t.Errorf("distinct key: %s", tr.Status)
	}
	rs, _ := claim(t, s, "w", 10, t0.Add(time.Hour), time.Minute)
	for _, r := range rs {
		if r.ID == dup.ID {
			t.Error("duplicate receipt was queued")
		}
	}
	if len(rs) != 2 {
		t.Errorf("claimed %d, want the 2 originals", len(rs))
	}
}

func testIdempotencyTTL(t *testing.T, s hookgate.Store) {
	first := newReceipt("primary", "k", t0)
	ingest(t, s, first)
	steps := []struct {
		at   time.Duration
		want hookgate.Status
		of   int // index into receipts of the expected original
	}{
		{ttl - time.Microsecond, hookgate.StatusDuplicate, 0},
		{ttl, hookgate.StatusReceived, -1}, // expired at expires_at: fresh again
		{ttl + time.Minute, hookgate.StatusDuplicate, 2},
		{2*ttl + time.Second, hookgate.StatusReceived, -1},
	}
	receipts := []*hookgate.Receipt{first}
	for _, st := range steps {
		r := newReceipt("primary", "k", t0.Add(st.at))
		tr := ingest(t, s, r)
		receipts = append(receipts, r)
		if tr.Status != st.want {
			t.Fatalf("at +%v: status %s, want %s", st.at, tr.Status, st.want)
		}
		if st.of >= 0 && r.DuplicateOf != receipts[st.of].ID {
			t.Errorf("at +%v: duplicate_of %s, want %s", st.at, r.DuplicateOf, receipts[st.of].ID)
		}
	}
}

func testConcurrentIngestSameKey(t *testing.T, s hookgate.Store) {
	const n = 16
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		rs    = make([]*hookgate.Receipt, n)
		errs  = make([]error, n)
	)
	for i := range n {
		rs[i] = newReceipt("primary", "same", t0.Add(time.Duration(i)*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.Ingest(context.Background(), rs[i], ttl)
		}()
	}
	close(start)
	wg.Wait()
	var winners []*hookgate.Receipt
	for i, r := range rs {
		if errs[i] != nil {
			t.Fatalf("ingest %d: %v", i, errs[i])
		}
		if r.Status != hookgate.StatusDuplicate {
			winners = append(winners, r)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d non-duplicates, want exactly 1", len(winners))
	}
	for _, r := range rs {
		if r != winners[0] && r.DuplicateOf != winners[0].ID {
			t.Errorf("%s duplicate_of %q, want %s", r.ID, r.DuplicateOf, winners[0].ID)
		}
	}
	jobs, _ := claim(t, s, "w", 100, t0.Add(time.Hour), time.Minute)
	if len(jobs) != 1 || jobs[0].ID != winners[0].ID {
		t.Errorf("queued %v, want only %s", ids(jobs), winners[0].ID)
	}
}

func testRecord(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "", t0)
	r.IdempotencyKey, r.Body = "", nil
	r.Status, r.Reason = hookgate.StatusRejected, "signature_mismatch"
	r.Trace = []byte(`{"tried":["s1"]}`)
	tr, err := s.Record(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != hookgate.StatusRejected || tr.Reason != "signature_mismatch" || tr.ReceiptID != r.ID {
		t.Errorf("transition = %+v", tr)
	}
	got := get(t, s, r.ID)
	if got.Status != hookgate.StatusRejected || got.Reason != "signature_mismatch" ||
		string(got.Trace) != `{"tried":["s1"]}` || got.NextAttemptAt != nil || len(got.History) != 1 {
		t.Errorf("stored rejected receipt: %+v", got)
	}
	h := newReceipt("primary", "", t0)
	h.IdempotencyKey, h.Status = "", hookgate.StatusHandshake
	if _, err := s.Record(ctx, h); err != nil {
		t.Fatal(err)
	}
	if rs, _ := claim(t, s, "w", 10, t0.Add(time.Hour), time.Minute); len(rs) != 0 {
		t.Errorf("recorded receipts were queued: %v", ids(rs))
	}
}

func testClaimLeasesAndExcludes(t *testing.T, s hookgate.Store) {
	var in []*hookgate.Receipt
	for i := range 3 {
		r := newReceipt("primary", fmt.Sprint("c", i), t0.Add(time.Duration(i)*time.Second))
		ingest(t, s, r)
		in = append(in, r)
	}
	if rs, _ := claim(t, s, "a", 10, t0.Add(-time.Second), time.Minute); len(rs) != 0 {
		t.Fatalf("claimed %d receipts before they were due", len(rs))
	}
	now := t0.Add(10 * time.Second)
	rs, trs := claim(t, s, "a", 2, now, time.Minute)
	if got, want := ids(rs), []string{in[0].ID, in[1].ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claimed %v, want %v (oldest due first)", got, want)
	}
	for i, r := range rs {
		if r.Status != hookgate.StatusDispatched || !bytes.Equal(r.Body, in[i].Body) ||
			r.Headers.Get("X-Github-Event") != "push" || r.IdempotencyKey != in[i].IdempotencyKey {
			t.Errorf("claimed receipt %d: %+v", i, r)
		}
		want := hookgate.Transition{ReceiptID: r.ID, Connection: "primary", From: hookgate.StatusReceived,
			Status: hookgate.StatusDispatched, At: now}
		if !reflect.DeepEqual(trs[i], want) {
			t.Errorf("transition %d = %+v, want %+v", i, trs[i], want)
		}
	}
	rs, _ = claim(t, s, "b", 10, now.Add(time.Second), time.Minute)
	if got := ids(rs); !reflect.DeepEqual(got, []string{in[2].ID}) {
		t.Errorf("second claimer got %v, want only the unleased %s", got, in[2].ID)
	}
	if rs, _ := claim(t, s, "c", 10, now.Add(2*time.Second), time.Minute); len(rs) != 0 {
		t.Errorf("third claimer got leased receipts %v", ids(rs))
	}
	if got := get(t, s, in[0].ID); got.Status != hookgate.StatusDispatched {
		t.Errorf("stored status %s, want dispatched", got.Status)
	}
}

func testExpiredLeaseReclaimed(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "lease", t0)
	ingest(t, s, r)
	claim(t, s, "a", 1, t0, time.Minute)
	if rs, _ := claim(t, s, "b", 1, t0.Add(time.Minute), time.Minute); len(rs) != 0 {
		t.Fatal("lease taken over at its last instant")
	}
	rs, trs := claim(t, s, "b", 1, t0.Add(time.Minute+time.Microsecond), time.Minute)
	if len(rs) != 1 || rs[0].ID != r.ID {
		t.Fatalf("expired lease not reclaimed: %v", ids(rs))
	}
	if trs[0].From != hookgate.StatusDispatched || trs[0].Status != hookgate.StatusDispatched {
		t.Errorf("takeover transition %+v", trs[0])
	}
	// The first owner wakes up late: its outcome must not overwrite b's.
	_, err := s.Complete(ctx, "a", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: t0.Add(2 * time.Minute), Attempts: []hookgate.Attempt{{Handler: "h", Number: 1, Outcome: hookgate.OutcomeSuccess,
			StartedAt: t0, FinishedAt: t0.Add(2 * time.Minute)}}})
	wantCode(t, err, hookgate.EConflict)
	trs2, err := s.Complete(ctx, "b", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: t0.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(trs2) != 1 || trs2[0].Status != hookgate.StatusAcknowledged {
		t.Errorf("complete transitions %+v", trs2)
	}
	if got := get(t, s, r.ID); len(got.Attempts) != 0 || got.Status != hookgate.StatusAcknowledged {
		t.Errorf("after takeover: status %s attempts %+v", got.Status, got.Attempts)
	}
}

// claimersBound is how long testConcurrentClaimers lets its workers drain
// the queue: a few seconds on a healthy store, so hitting it means a claim
// kept returning receipts, and the test fails instead of running until go
// test's own timeout.
const claimersBound = 2 * time.Minute

func testConcurrentClaimers(t *testing.T, s hookgate.Store) {
	const jobs, workers = 200, 8
	for i := range jobs {
		ingest(t, s, newReceipt("primary", fmt.Sprint("j", i), t0.Add(time.Duration(i)*time.Microsecond)))
	}
	// The first receipt leased twice stops every worker: with a lease bug a
	// claim may hand out the same receipts forever.
	ctx, stop := context.WithTimeout(context.Background(), claimersBound)
	defer stop()
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		dups []string
		wg   sync.WaitGroup
		errs = make([]error, workers)
	)
	now := t0.Add(time.Second)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("worker-", w)
			// Every claim that returns anything must take a receipt no one
			// holds, so no worker can make more than jobs of them.
			for claims := 0; ; claims++ {
				if ctx.Err() != nil {
					errs[w] = fmt.Errorf("%s still claiming after %v (%d claims): %w", owner, claimersBound, claims, ctx.Err())
					return
				}
				if claims > jobs {
					errs[w] = fmt.Errorf("%s made %d non-empty claims for %d receipts", owner, claims, jobs)
					return
				}
				rs, _, err := s.Claim(ctx, owner, 7, now, time.Hour)
				if err != nil {
					errs[w] = err
					return
				}
				if len(rs) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rs {
					if prev, ok := seen[r.ID]; ok {
						dups = append(dups, r.ID+" by "+prev+" and "+owner)
						stop()
					}
					seen[r.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Fatalf("receipt %s leased twice (%d double leases before the workers stopped)", dups[0], len(dups))
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != jobs {
		t.Fatalf("claimed %d receipts, want %d", len(seen), jobs)
	}
}

func testCompleteByNonOwner(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "owner", t0)
	ingest(t, s, r)
	claim(t, s, "a", 1, t0, time.Minute)
	before := get(t, s, r.ID)
	_, err := s.Complete(ctx, "b", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged, At: t0,
		Attempts: []hookgate.Attempt{{Handler: "h", Number: 1, Outcome: hookgate.OutcomeSuccess, StartedAt: t0, FinishedAt: t0}}})
	wantCode(t, err, hookgate.EConflict)
	if after := get(t, s, r.ID); !reflect.DeepEqual(before, after) {
		t.Errorf("failed complete wrote:\nbefore %+v\nafter  %+v", before, after)
	}
	_, err = s.Complete(ctx, "a", hookgate.Completion{ReceiptID: "no-such-receipt", Status: hookgate.StatusAcknowledged, At: t0})
	wantCode(t, err, hookgate.ENotFound)
	// A receipt that was never claimed has no owner.
	idle := newReceipt("primary", "idle", t0)
	ingest(t, s, idle)
	_, err = s.Complete(ctx, "a", hookgate.Completion{ReceiptID: idle.ID, Status: hookgate.StatusAcknowledged, At: t0})
	wantCode(t, err, hookgate.EConflict)
}

func testRetryScheduling(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "retry", t0)
	ingest(t, s, r)
	claim(t, s, "a", 1, t0, time.Minute)
	next := t0.Add(10 * time.Minute)
	fail := hookgate.Attempt{Handler: "h1", Number: 1, StartedAt: t0, FinishedAt: t0.Add(time.Second),
		Outcome: hookgate.OutcomeFailure, StatusCode: 503, Error: "upstream unavailable"}
	ok := hookgate.Attempt{Handler: "h0", Number: 1, StartedAt: t0, FinishedAt: t0.Add(time.Millisecond),
		Outcome: hookgate.OutcomeSuccess, StatusCode: 200}
	trs, err := s.Complete(ctx, "a", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusFailed,
		Reason: "h1: upstream unavailable", NextAttemptAt: &next, At: t0.Add(time.Second),
		Attempts: []hookgate.Attempt{ok, fail}})
	if err != nil {
		t.Fatal(err)
	}
	want := hookgate.Transition{ReceiptID: r.ID, Connection: "primary", From: hookgate.StatusDispatched,
		Status: hookgate.StatusFailed, Reason: "h1: upstream unavailable", At: t0.Add(time.Second),
		NextAttemptAt: &next} // the live event says when it runs again
	if len(trs) != 1 || !reflect.DeepEqual(trs[0], want) {
		t.Errorf("transitions %+v, want [%+v]", trs, want)
	}
	got := get(t, s, r.ID)
	if got.Status != hookgate.StatusFailed || got.AttemptCount != 1 || got.NextAttemptAt == nil ||
		!got.NextAttemptAt.Equal(next) || got.Reason != "h1: upstream unavailable" {
		t.Errorf("after failure: status %s count %d next %v reason %q", got.Status, got.AttemptCount, got.NextAttemptAt, got.Reason)
	}
	if len(got.Attempts) != 2 || !reflect.DeepEqual(got.Attempts[1], fail) {
		t.Errorf("attempts %+v, want [%+v %+v]", got.Attempts, ok, fail)
	}
	if rs, _ := claim(t, s, "b", 10, next.Add(-time.Microsecond), time.Minute); len(rs) != 0 {
		t.Fatal("failed receipt claimed before its next attempt")
	}
	rs, trs2 := claim(t, s, "b", 10, next, time.Minute)
	if len(rs) != 1 {
		t.Fatalf("failed receipt not claimed when due")
	}
	if trs2[0].From != hookgate.StatusFailed {
		t.Errorf("retry claim transition from %s, want failed", trs2[0].From)
	}
	if rs[0].AttemptCount != 1 || len(rs[0].Attempts) != 2 {
		t.Errorf("claimed retry carries count %d attempts %+v", rs[0].AttemptCount, rs[0].Attempts)
	}
	fail2 := fail
	fail2.Number, fail2.Outcome, fail2.StatusCode, fail2.Error = 2, hookgate.OutcomeSuccess, 200, ""
	fail2.StartedAt, fail2.FinishedAt = next, next.Add(time.Second)
	if _, err := s.Complete(ctx, "b", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: next.Add(time.Second), Attempts: []hookgate.Attempt{fail2}}); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, r.ID)
	if got.Status != hookgate.StatusAcknowledged || got.AttemptCount != 2 || got.NextAttemptAt != nil || len(got.Attempts) != 3 {
		t.Errorf("after success: status %s count %d next %v attempts %d", got.Status, got.AttemptCount, got.NextAttemptAt, len(got.Attempts))
	}
	if rs, _ := claim(t, s, "c", 10, next.Add(time.Hour), time.Minute); len(rs) != 0 {
		t.Error("acknowledged receipt claimed again")
	}
	// A failure without a next attempt would strand the receipt.
	r2 := newReceipt("primary", "retry2", t0)
	ingest(t, s, r2)
	claim(t, s, "a", 1, t0, time.Minute)
	_, err = s.Complete(ctx, "a", hookgate.Completion{ReceiptID: r2.ID, Status: hookgate.StatusFailed, At: t0})
	wantCode(t, err, hookgate.EInvalid)
}

func testReplay(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "replay", t0)
	ingest(t, s, r)
	claim(t, s, "a", 1, t0, time.Minute)
	first := hookgate.Attempt{Handler: "h", Number: 1, StartedAt: t0, FinishedAt: t0, Outcome: hookgate.OutcomeSuccess, StatusCode: 200}
	if _, err := s.Complete(ctx, "a", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: t0, Attempts: []hookgate.Attempt{first}}); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	tr, err := s.Replay(ctx, r.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	want := hookgate.Transition{ReceiptID: r.ID, Connection: "primary", From: hookgate.StatusAcknowledged,
		Status: hookgate.StatusReceived, Reason: "replay", At: at}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("replay transition %+v, want %+v", tr, want)
	}
	got := get(t, s, r.ID)
	if got.Round != 1 || got.AttemptCount != 0 || got.Status != hookgate.StatusReceived ||
		got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(at) {
		t.Errorf("after replay: round %d count %d status %s next %v", got.Round, got.AttemptCount, got.Status, got.NextAttemptAt)
	}
	if rs, _ := claim(t, s, "b", 1, at.Add(-time.Second), time.Minute); len(rs) != 0 {
		t.Error("replayed receipt claimed before the replay time")
	}
	rs, _ := claim(t, s, "b", 1, at, time.Minute)
	if len(rs) != 1 || rs[0].Round != 1 || len(rs[0].Attempts) != 0 {
		t.Fatalf("claimed replay: %+v (want round 1, no attempts of the new round)", rs)
	}
	// In flight: refused until the attempt completes.
	_, err = s.Replay(ctx, r.ID, at.Add(time.Second))
	wantCode(t, err, hookgate.EConflict)
	second := first
	second.StartedAt, second.FinishedAt = at, at
	if _, err := s.Complete(ctx, "b", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
		At: at, Attempts: []hookgate.Attempt{second}}); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, r.ID)
	if len(got.Attempts) != 2 || got.Attempts[0].Round != 0 || got.Attempts[1].Round != 1 {
		t.Errorf("attempts by round: %+v", got.Attempts)
	}
	// Held receipts are resumed by replay.
	h := newReceipt("primary", "held", t0)
	h.Status = hookgate.StatusHeld
	ingest(t, s, h)
	if _, err := s.Replay(ctx, h.ID, at); err != nil {
		t.Fatalf("replay held: %v", err)
	}
	if rs, _ := claim(t, s, "c", 10, at, time.Minute); len(rs) != 1 || rs[0].ID != h.ID {
		t.Errorf("resumed held receipt not queued: %v", ids(rs))
	}
}

func testReplayRefused(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	rej := newReceipt("primary", "", t0)
	rej.IdempotencyKey, rej.Status, rej.Reason = "", hookgate.StatusRejected, "signature_mismatch"
	if _, err := s.Record(ctx, rej); err != nil {
		t.Fatal(err)
	}
	hs := newReceipt("primary", "", t0)
	hs.IdempotencyKey, hs.Status = "", hookgate.StatusHandshake
	if _, err := s.Record(ctx, hs); err != nil {
		t.Fatal(err)
	}
	orig := newReceipt("primary", "dup", t0)
	ingest(t, s, orig)
	dup := newReceipt("primary", "dup", t0)
	ingest(t, s, dup)
	for _, id := range []string{rej.ID, hs.ID, dup.ID} {
		before := get(t, s, id)
		_, err := s.Replay(ctx, id, t0.Add(time.Hour))
		wantCode(t, err, hookgate.EConflict)
		if after := get(t, s, id); !reflect.DeepEqual(before, after) {
			t.Errorf("refused replay of %s wrote", before.Status)
		}
	}
	_, err := s.Replay(ctx, "no-such-receipt", t0)
	wantCode(t, err, hookgate.ENotFound)
}

// listFixture ingests receipts over two connections and returns them newest
// first, as listing must order them: received_at desc, and receipts received
// in the same microsecond newest stored first.
func listFixture(t *testing.T, s hookgate.Store) []*hookgate.Receipt {
	var all []*hookgate.Receipt
	for i := range 9 {
		conn := "primary"
		if i%3 == 0 {
			conn = "secondary"
		}
		at := t0.Add(time.Duration(i/2) * time.Minute) // pairs share received_at: the order stored breaks the tie
		r := newReceipt(conn, fmt.Sprint("l", i), at)
		if i%2 == 0 {
			r.EventType = "issues"
		}
		if i == 4 {
			r.Status = hookgate.StatusFiltered
		}
		// Ids that sort against the order stored, so that a listing
		// that broke ties by id would fail.
		r.ID = fmt.Sprintf("list-%d-%s", 9-i, r.ID)
		ingest(t, s, r)
		all = append(all, r)
	}
	stored := map[string]int{}
	for i, r := range all {
		stored[r.ID] = i
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].ReceivedAt.Equal(all[j].ReceivedAt) {
			return all[i].ReceivedAt.After(all[j].ReceivedAt)
		}
		return stored[all[i].ID] > stored[all[j].ID]
	})
	return all
}

func list(t *testing.T, s hookgate.Store, f hookgate.ReceiptFilter) []string {
	t.Helper()
	var out []string
	for page := 0; ; page++ {
		rs, next, err := s.Receipts(context.Background(), f)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		if f.Limit > 0 && len(rs) > f.Limit {
			t.Fatalf("page of %d, limit %d", len(rs), f.Limit)
		}
		out = append(out, ids(rs)...)
		if next == "" {
			return out
		}
		if page > 100 {
			t.Fatal("paging does not end")
		}
		f.Cursor = next
	}
}

func testListingOrderAndPaging(t *testing.T, s hookgate.Store) {
	all := listFixture(t, s)
	want := ids(all)
	for _, limit := range []int{0, 1, 2, 4, 9, 10} {
		if got := list(t, s, hookgate.ReceiptFilter{Limit: limit}); !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d:\n got %v\nwant %v", limit, got, want)
		}
	}
	rs, next, err := s.Receipts(context.Background(), hookgate.ReceiptFilter{Limit: 9})
	if err != nil {
		t.Fatal(err)
	}
	if next != "" {
		t.Errorf("cursor %q on the last page", next)
	}
	for _, r := range rs {
		if r.Headers != nil || r.Body != nil || r.Attempts != nil || r.History != nil {
			t.Errorf("listing carries headers/body/attempts/history: %+v", r)
		}
		if r.Connection == "" || r.ReceivedAt.IsZero() || r.Status == "" || r.IdempotencyKey == "" {
			t.Errorf("listing lacks summary fields: %+v", r)
		}
	}
	rs, _, err = s.Receipts(context.Background(), hookgate.ReceiptFilter{Limit: 100000})
	if err != nil || len(rs) != len(all) {
		t.Errorf("large limit: %d receipts, %v", len(rs), err)
	}
}

func testListingFilters(t *testing.T, s hookgate.Store) {
	all := listFixture(t, s)
	filter := func(keep func(r *hookgate.Receipt) bool) []string {
		var out []string
		for _, r := range all {
			if keep(r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	since, until := t0.Add(time.Minute), t0.Add(3*time.Minute)
	cases := []struct {
		name string
		f    hookgate.ReceiptFilter
		keep func(r *hookgate.Receipt) bool
	}{
		{"connection", hookgate.ReceiptFilter{Connection: "secondary"},
			func(r *hookgate.Receipt) bool { return r.Connection == "secondary" }},
		{"status", hookgate.ReceiptFilter{Status: hookgate.StatusFiltered},
			func(r *hookgate.Receipt) bool { return r.Status == hookgate.StatusFiltered }},
		{"event_type", hookgate.ReceiptFilter{EventType: "issues"},
			func(r *hookgate.Receipt) bool { return r.EventType == "issues" }},
		{"since inclusive, until exclusive", hookgate.ReceiptFilter{Since: since, Until: until},
			func(r *hookgate.Receipt) bool { return !r.ReceivedAt.Before(since) && r.ReceivedAt.Before(until) }},
		{"combined, paged", hookgate.ReceiptFilter{Connection: "primary", EventType: "push", Since: since, Limit: 1},
			func(r *hookgate.Receipt) bool {
				return r.Connection == "primary" && r.EventType == "push" && !r.ReceivedAt.Before(since)
			}},
		{"connection and status, paged", hookgate.ReceiptFilter{Connection: "primary", Status: hookgate.StatusReceived, Limit: 2},
			func(r *hookgate.Receipt) bool {
				return r.Connection == "primary" && r.Status == hookgate.StatusReceived
			}},
		{"status and event_type", hookgate.ReceiptFilter{Status: hookgate.StatusReceived, EventType: "issues"},
			func(r *hookgate.Receipt) bool { return r.Status == hookgate.StatusReceived && r.EventType == "issues" }},
		{"connection, paged across statuses", hookgate.ReceiptFilter{Connection: "primary", Limit: 1},
			func(r *hookgate.Receipt) bool { return r.Connection == "primary" }},
		{"no match", hookgate.ReceiptFilter{Connection: "nobody"}, func(*hookgate.Receipt) bool { return false }},
	}
	for _, c := range cases {
		got, want := list(t, s, c.f), filter(c.keep)
		if len(want) == 0 && c.name != "no match" {
			t.Fatalf("%s: fixture selects nothing", c.name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, want)
		}
	}
}

func testListingBadCursor(t *testing.T, s hookgate.Store) {
	for _, c := range []string{"!!!", "bm90LWEtY3Vyc29y", "MTIz"} {
		_, _, err := s.Receipts(context.Background(), hookgate.ReceiptFilter{Cursor: c})
		wantCode(t, err, hookgate.EInvalid)
	}
}

func testHistoryOrder(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	r := newReceipt("primary", "history", t0)
	ingest(t, s, r)
	claim(t, s, "a", 1, t0, time.Minute)
	next := t0.Add(time.Minute)
	if _, err := s.Complete(ctx, "a", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusFailed,
		Reason: "boom", NextAttemptAt: &next, At: t0}); err != nil {
		t.Fatal(err)
	}
	claim(t, s, "b", 1, next, time.Minute)
	// Expired lease taken over.
	claim(t, s, "c", 1, next.Add(2*time.Minute), time.Minute)
	if _, err := s.Complete(ctx, "c", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusDead,
		Reason: "not retryable", At: next.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replay(ctx, r.ID, next.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, r.ID)
	want := []string{">received", "received>dispatched", "dispatched>failed", "failed>dispatched",
		"dispatched>dispatched", "dispatched>dead", "dead>received"}
	if h := statuses(got.History); !reflect.DeepEqual(h, want) {
		t.Errorf("history %v, want %v", h, want)
	}
	for i := 1; i < len(got.History); i++ {
		if got.History[i].At.Before(got.History[i-1].At) {
			t.Errorf("history times go backwards at %d: %+v", i, got.History)
		}
	}
	if last := got.History[len(got.History)-1]; last.Reason != "replay" || last.ReceiptID != r.ID || last.Connection != "primary" {
		t.Errorf("last transition %+v", last)
	}
	if got.History[2].Reason != "boom" {
		t.Errorf("failed transition reason %q", got.History[2].Reason)
	}
}

func testConnections(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	if cs, err := s.Connections(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("empty store: %v %v", cs, err)
	}
	ttl := 600
	c := &hookgate.Connection{Type: "github", Name: "primary", SigningSecrets: []string{"s1", "s2"},
		NonceHeader: "X-GitHub-Delivery", IdempotencyTTL: &ttl,
		Routes: []hookgate.Route{{Events: []string{"push"}, Handlers: []string{"h1", "h2"}}},
		Retry:  &hookgate.RetryPolicy{MaxAttempts: 3, InitialInterval: hookgate.Duration(time.Second)}}
	if err := s.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := &hookgate.Connection{Type: "stripe", Name: "billing", SigningSecret: "whsec"}
	if err := s.CreateConnection(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Names are unique across types.
	wantCode(t, s.CreateConnection(ctx, &hookgate.Connection{Type: "linear", Name: "primary"}), hookgate.EConflict)
	cs, err := s.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || !reflect.DeepEqual(cs[1], c) || !reflect.DeepEqual(cs[0], other) {
		t.Fatalf("connections = %+v", cs)
	}
	c.Paused, c.SigningSecrets = true, []string{"s3"}
	if err := s.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	cs, _ = s.Connections(ctx)
	if len(cs) != 2 || !cs[1].Paused || !reflect.DeepEqual(cs[1].SigningSecrets, []string{"s3"}) {
		t.Errorf("after update: %+v", cs[1])
	}
	wantCode(t, s.UpdateConnection(ctx, &hookgate.Connection{Type: "github", Name: "nobody"}), hookgate.ENotFound)
	wantCode(t, s.DeleteConnection(ctx, "github", "nobody"), hookgate.ENotFound)
	wantCode(t, s.DeleteConnection(ctx, "linear", "primary"), hookgate.ENotFound)
	if err := s.DeleteConnection(ctx, "github", "primary"); err != nil {
		t.Fatal(err)
	}
	cs, _ = s.Connections(ctx)
	if len(cs) != 1 || cs[0].Name != "billing" {
		t.Errorf("after delete: %+v", cs)
	}
	// The name is free again.
	if err := s.CreateConnection(ctx, &hookgate.Connection{Type: "linear", Name: "primary"}); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
}

func testPruneIdempotencyKeys(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	for i := range 3 {
		ingest(t, s, newReceipt("primary", fmt.Sprint("p", i), t0)) // expire at t0+ttl
	}
	for i := range 2 {
		ingest(t, s, newReceipt("primary", fmt.Sprint("q", i), t0.Add(ttl))) // expire at t0+2ttl
	}
	n, err := s.PruneIdempotencyKeys(ctx, t0.Add(ttl-time.Microsecond))
	if err != nil || n != 0 {
		t.Errorf("prune before expiry: %d, %v", n, err)
	}
	if n, err = s.PruneIdempotencyKeys(ctx, t0.Add(ttl)); err != nil || n != 3 {
		t.Errorf("prune at first expiry: %d, %v; want 3", n, err)
	}
	if n, err = s.PruneIdempotencyKeys(ctx, t0.Add(ttl)); err != nil || n != 0 {
		t.Errorf("prune again: %d, %v; want 0", n, err)
	}
	// The unexpired keys still deduplicate; the pruned ones are fresh.
	if tr := ingest(t, s, newReceipt("primary", "q0", t0.Add(ttl+time.Second))); tr.Status != hookgate.StatusDuplicate {
		t.Errorf("unexpired key after prune: %s", tr.Status)
	}
	if tr := ingest(t, s, newReceipt("primary", "p0", t0.Add(ttl+time.Second))); tr.Status != hookgate.StatusReceived {
		t.Errorf("pruned key: %s", tr.Status)
	}
	if n, err = s.PruneIdempotencyKeys(ctx, t0.Add(10*ttl)); err != nil || n != 3 {
		t.Errorf("prune all: %d, %v; want 3", n, err)
	}

	// More keys than one prune step takes (a store may prune in chunks),
	// expired and live ones interleaved in key order.
	const many = 2600
	var wg sync.WaitGroup
	for i := range many {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := t0
			if i%2 == 1 {
				at = t0.Add(5 * ttl)
			}
			ingest(t, s, newReceipt("bulk", fmt.Sprintf("k%05d", i), at))
		}()
	}
	wg.Wait()
	if n, err = s.PruneIdempotencyKeys(ctx, t0.Add(2*ttl)); err != nil || n != many/2 {
		t.Errorf("prune of many: %d, %v; want %d", n, err, many/2)
	}
	if tr := ingest(t, s, newReceipt("bulk", "k00001", t0.Add(2*ttl))); tr.Status != hookgate.StatusDuplicate {
		t.Errorf("live key pruned: %s", tr.Status)
	}
	if tr := ingest(t, s, newReceipt("bulk", fmt.Sprintf("k%05d", many-2), t0.Add(2*ttl))); tr.Status != hookgate.StatusReceived {
		t.Errorf("expired key kept: %s", tr.Status)
	}
}
