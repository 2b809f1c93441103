package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
)

// inlineFor is an Inline over a fresh SQLite store with one handler.
func inlineFor(t *testing.T, send hookgate.Sender, retry hookgate.RetryPolicy) (*Inline, hookgate.Store) {
	t.Helper()
	db := openDB(t)
	d := testDispatcher(db, 4, 10*time.Millisecond, nil)
	d.Planner = oneTarget{Target{Name: "h", Timeout: 5 * time.Second, Retry: retry, Sender: send}}
	return &Inline{D: d, Concurrency: 2}, db
}

// ingestSync stores a delivery as ingress does for a sync route.
func ingestSync(t *testing.T, in *Inline, s hookgate.Store) *hookgate.Receipt {
	t.Helper()
	now := time.Now()
	r := &hookgate.Receipt{ID: uuid.Must(uuid.NewV7()).String(), Connection: "c", IdempotencyKey: "c:e:" + uuid.NewString(),
		Status: hookgate.StatusReceived, ReceivedAt: now, Body: []byte(`{"n":1}`)}
	owner, until := in.Lease(now)
	if _, err := s.IngestLeased(context.Background(), r, time.Hour, owner, until); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestInlineAnswersTheReply: a sync run answers the handler's reply (status,
// content type, body), records it with the attempt, and acknowledges the
// receipt through the store, as a dispatch does.
func TestInlineAnswersTheReply(t *testing.T) {
	send := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		return hookgate.Reply{StatusCode: 201, ContentType: "text/xml", Body: []byte("<Response/>")}, false, nil
	})
	in, s := inlineFor(t, send, (&hookgate.RetryPolicy{}).WithDefaults())
	if !in.Acquire() {
		t.Fatal("no slot")
	}
	r := ingestSync(t, in, s)
	reply, ok := in.Run(r, time.Second, "")
	if !ok || reply.StatusCode != 201 || reply.ContentType != "text/xml" || string(reply.Body) != "<Response/>" {
		t.Fatalf("reply %+v ok %v", reply, ok)
	}
	got := waitStatus(t, s, r.ID, hookgate.StatusAcknowledged, 5*time.Second)
	if len(got.Attempts) != 1 || got.Attempts[0].Reply == nil || string(got.Attempts[0].Reply.Body) != "<Response/>" {
		t.Fatalf("attempts %+v", got.Attempts)
	}
	in.Wait()
	if len(in.slots) != 0 {
		t.Fatalf("%d slots still taken after the run", len(in.slots))
	}
}

// TestInlinePlainSender: a Go handler that only implements Sender still runs
// inline; its reply is its status code.
func TestInlinePlainSender(t *testing.T) {
	send := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { return 0, false, nil })
	in, s := inlineFor(t, send, (&hookgate.RetryPolicy{}).WithDefaults())
	in.Acquire()
	reply, ok := in.Run(ingestSync(t, in, s), time.Second, "h")
	if !ok || reply.StatusCode != 0 || reply.Body != nil {
		t.Fatalf("reply %+v ok %v", reply, ok)
	}
	// reply_from naming no handler that ran is no answer.
	in.Acquire()
	if _, ok := in.Run(ingestSync(t, in, s), time.Second, "other"); ok {
		t.Fatal("answered the reply of a handler that did not run")
	}
}

// TestInlineTimeoutAcknowledgedLater: a handler slower than the timeout
// gets no answer in time (the caller falls back), and the run goes on: the
// receipt is acknowledged once the handler ends, without a second call.
func TestInlineTimeoutAcknowledgedLater(t *testing.T) {
	var calls atomic.Int64
	send := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		calls.Add(1)
		time.Sleep(300 * time.Millisecond)
		return hookgate.Reply{StatusCode: 200, Body: []byte("late")}, false, nil
	})
	in, s := inlineFor(t, send, (&hookgate.RetryPolicy{}).WithDefaults())
	in.Acquire()
	r := ingestSync(t, in, s)
	start := time.Now()
	if _, ok := in.Run(r, 30*time.Millisecond, ""); ok {
		t.Fatal("answered a reply that came after the timeout")
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Fatalf("Run waited %v, past its timeout", el)
	}
	if got, _ := s.Receipt(context.Background(), r.ID); got.Status != hookgate.StatusDispatched {
		t.Fatalf("status %s while the handler runs, want dispatched", got.Status)
	}
	got := waitStatus(t, s, r.ID, hookgate.StatusAcknowledged, 5*time.Second)
	if calls.Load() != 1 || string(got.Attempts[0].Reply.Body) != "late" {
		t.Fatalf("%d calls, attempts %+v", calls.Load(), got.Attempts)
	}
}

// TestInlineFailureRetried: a failing handler gets no answer, and the
// receipt carries on with its retries: the dispatcher delivers it later.
func TestInlineFailureRetried(t *testing.T) {
	var calls atomic.Int64
	send := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		if calls.Add(1) == 1 {
			return hookgate.Reply{StatusCode: 503, Body: []byte("busy")}, true, errors.New("destination answered 503")
		}
		return hookgate.Reply{StatusCode: 200, Body: []byte("ok")}, false, nil
	})
	in, s := inlineFor(t, send, hookgate.RetryPolicy{MaxAttempts: 3, InitialInterval: hookgate.Duration(20 * time.Millisecond),
		MaxInterval: hookgate.Duration(50 * time.Millisecond), Multiplier: 2})
	in.Acquire()
	r := ingestSync(t, in, s)
	if _, ok := in.Run(r, time.Second, ""); ok {
		t.Fatal("answered the reply of a failed handler")
	}
	in.Wait()
	if got, _ := s.Receipt(context.Background(), r.ID); got.Status != hookgate.StatusFailed || got.NextAttemptAt == nil {
		t.Fatalf("after the failed sync run: %s, next %v", got.Status, got.NextAttemptAt)
	}
	runDispatcher(t, in.D)
	got := waitStatus(t, s, r.ID, hookgate.StatusAcknowledged, 5*time.Second)
	if calls.Load() != 2 || len(got.Attempts) != 2 || string(got.Attempts[1].Reply.Body) != "ok" {
		t.Fatalf("%d calls, attempts %+v", calls.Load(), got.Attempts)
	}
}

// TestInlineBounded: past Concurrency runs at once, Acquire says no; a slot
// comes back when its run's outcome is committed, or on Release.
func TestInlineBounded(t *testing.T) {
	release := make(chan struct{})
	send := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) {
		<-release
		return 200, false, nil
	})
	in, s := inlineFor(t, send, (&hookgate.RetryPolicy{}).WithDefaults())
	if !in.Acquire() || !in.Acquire() {
		t.Fatal("two slots expected")
	}
	if in.Acquire() {
		t.Fatal("a third slot past Concurrency 2")
	}
	in.Release()
	r := ingestSync(t, in, s)
	if _, ok := in.Run(r, 10*time.Millisecond, ""); ok {
		t.Fatal("answered before the handler did")
	}
	if !in.Acquire() {
		t.Fatal("the slot given back by Release is not free")
	}
	if in.Acquire() {
		t.Fatal("a slot free while a run holds it")
	}
	close(release)
	in.Wait()
	if !in.Acquire() {
		t.Fatal("the run's slot did not come back")
	}
}

// TestReplyBounded: a reply body past MaxReplyBytes is kept cut and marked,
// and is never answered whole or cut: the sync answer falls back.
func TestReplyBounded(t *testing.T) {
	send := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		return hookgate.Reply{StatusCode: 200, ContentType: "text/plain", Body: []byte(strings.Repeat("z", 100))}, false, nil
	})
	in, s := inlineFor(t, send, (&hookgate.RetryPolicy{}).WithDefaults())
	in.D.MaxReplyBytes = 10
	in.Acquire()
	r := ingestSync(t, in, s)
	if _, ok := in.Run(r, time.Second, ""); ok {
		t.Fatal("answered a reply past the bound")
	}
	got := waitStatus(t, s, r.ID, hookgate.StatusAcknowledged, 5*time.Second)
	a := got.Attempts[0]
	if a.Reply == nil || string(a.Reply.Body) != strings.Repeat("z", 10) || !a.ReplyTruncated {
		t.Fatalf("kept reply %+v truncated %v", a.Reply, a.ReplyTruncated)
	}
}
