package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

func rejected(t *testing.T, s hookgate.Store, conn, id string, at time.Time, body []byte) {
	t.Helper()
	r := &hookgate.Receipt{ID: id, ConnectionType: "github", Connection: conn, ReceivedAt: at,
		Status: hookgate.StatusRejected, Reason: "signature_mismatch", Body: body, Trace: []byte(`{"scheme":"sha256"}`)}
	if _, err := s.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func testAdmit(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	rejected(t, s, "c", "rej-1", t0, []byte(`{"a":1}`))
	admit := &hookgate.Receipt{ID: "rej-1", EventType: "push", Nonce: "n1", IdempotencyKey: "c:push:n1",
		SecretID: "sec_1", Status: hookgate.StatusReceived}
	tr, err := s.Admit(ctx, admit, t0.Add(time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tr.From != hookgate.StatusRejected || tr.Status != hookgate.StatusReceived || tr.Reason != "admitted" {
		t.Fatalf("transition = %+v", tr)
	}
	got := get(t, s, "rej-1")
	if got.Status != hookgate.StatusReceived || got.EventType != "push" || got.IdempotencyKey != "c:push:n1" ||
		got.SecretID != "sec_1" || got.NextAttemptAt == nil || got.Reason != "" {
		t.Fatalf("admitted receipt = %+v", got)
	}
	if h := statuses(got.History); len(h) != 2 || h[0] != ">rejected" || h[1] != "rejected>received" {
		t.Fatalf("history = %v", statuses(got.History))
	}
	rs, _ := claim(t, s, "w", 10, t0.Add(time.Hour), time.Minute)
	if len(rs) != 1 || rs[0].ID != "rej-1" {
		t.Fatalf("admitted receipt not claimable: %v", ids(rs))
	}

	// Admitting again, or a receipt that is not rejected, is refused.
	_, err = s.Admit(ctx, admit, t0.Add(time.Hour), time.Hour)
	wantCode(t, err, hookgate.EConflict)
	_, err = s.Admit(ctx, &hookgate.Receipt{ID: "missing", Status: hookgate.StatusReceived}, t0, time.Hour)
	wantCode(t, err, hookgate.ENotFound)

	// The same key again makes a duplicate, without a job.
	rejected(t, s, "c", "rej-2", t0, []byte(`{"a":1}`))
	dup := &hookgate.Receipt{ID: "rej-2", EventType: "push", Nonce: "n1", IdempotencyKey: "c:push:n1", Status: hookgate.StatusReceived}
	if _, err := s.Admit(ctx, dup, t0.Add(time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "rej-2"); got.Status != hookgate.StatusDuplicate || got.DuplicateOf != "rej-1" || got.NextAttemptAt != nil {
		t.Fatalf("duplicate admit = %+v", got)
	}

	// Without a kept body there is nothing to admit.
	rejected(t, s, "c", "rej-3", t0, nil)
	_, err = s.Admit(ctx, &hookgate.Receipt{ID: "rej-3", IdempotencyKey: "c::x", Status: hookgate.StatusReceived}, t0, time.Hour)
	wantCode(t, err, hookgate.EConflict)
}
