package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/verify"
)

func checkYAML(t *testing.T, yaml string) error {
	t.Helper()
	cfg, _, err := config.Parse([]byte(yaml))
	if err != nil {
		return err
	}
	return Check(cfg)
}

// sink is a real HTTP destination that answers from a script of statuses
// and records what it received.
type sink struct {
	mu       sync.Mutex
	statuses []int // answered in order; the last one repeats
	got      []*http.Request
	bodies   []string
	srv      *httptest.Server
}

func newSink(t *testing.T, statuses ...int) *sink {
	s := &sink{statuses: statuses}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, r)
		s.bodies = append(s.bodies, string(b))
		st := s.statuses[min(len(s.got)-1, len(s.statuses)-1)]
		s.mu.Unlock()
		w.WriteHeader(st)
		fmt.Fprintf(w, "answer %d", st)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

const hookgateSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func dispatchGateway(t *testing.T, s *sink, retry string) *testGateway {
	return dispatchGatewayWith(t, sqliteURL, s, retry)
}

// dispatchGatewayWith is dispatchGateway on the storage of a backends run,
// so a "postgres" subtest really runs on PostgreSQL (or skips).
func dispatchGatewayWith(t *testing.T, storage func(testing.TB) string, s *sink, retry string) *testGateway {
	return newTestGatewayWith(t, storage, fmt.Sprintf(`
signing_secret: %s
handlers:
  - {name: forward, type: http, url: %q, headers: {X-Team: payments}, timeout: 2s}
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    nonce_header: X-Nonce
    event_type: body:type
    retry: %s
    routes:
      - {events: ["order.*"], handlers: [forward]}
`, hookgateSecret, s.srv.URL+"/hook", retry))
}

func (tg *testGateway) deliver(nonce, body string) *hookgate.Receipt {
	tg.t.Helper()
	st, b := tg.post("/webhooks/internal/svc", http.Header{"X-Token": {"tok"}, "X-Nonce": {nonce}}, []byte(body))
	if st != 204 {
		tg.t.Fatalf("deliver = %d %s", st, b)
	}
	for _, r := range tg.receipts("svc") {
		if r.Nonce == nonce {
			return r
		}
	}
	tg.t.Fatal("receipt not found")
	return nil
}

func (tg *testGateway) receipt(id string) *hookgate.Receipt {
	tg.t.Helper()
	r, err := tg.Store().Receipt(context.Background(), id)
	if err != nil {
		tg.t.Fatal(err)
	}
	return r
}

func TestDispatchHTTPSuccess(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := dispatchGateway(t, s, "{max_attempts: 3}")
	body := `{"type":"order.paid","id":"o1"}`
	r := tg.deliver("n1", body)
	tg.drain()
	if got := tg.receipt(r.ID); got.Status != hookgate.StatusAcknowledged || len(got.Attempts) != 1 || got.Attempts[0].StatusCode != 200 {
		t.Fatalf("receipt = %+v", got)
	}
	req := s.got[0]
	if s.bodies[0] != body {
		t.Errorf("forwarded body = %q", s.bodies[0])
	}
	for h, want := range map[string]string{
		"Hookgate-Receipt-Id": r.ID, "Idempotency-Key": "svc:order.paid:n1", "Hookgate-Event-Type": "order.paid",
		"Hookgate-Connection": "svc", "X-Team": "payments", "Content-Type": "application/json", "Webhook-Id": r.ID,
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	// The destination verifies hookgate's Standard Webhooks signature.
	v, _ := verify.New(verify.Config{Auth: "svix", Secrets: []verify.Secret{{ID: "hg", Value: hookgateSecret}}, ReplayWindow: 5 * time.Minute})
	if _, err := v.Verify(&verify.Request{Method: "POST", URL: req.URL, Header: req.Header, Body: []byte(s.bodies[0]), Now: time.Now()}); err != nil {
		t.Errorf("forwarded signature does not verify: %v", err)
	}
	// The credential header of a secret-auth connection is not stored.
	if got := tg.receipt(r.ID).Headers.Get("X-Token"); got != "[redacted]" {
		t.Errorf("stored X-Token = %q", got)
	}
}

func TestDispatchRetriesWithBackoffThenSucceeds(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 503, 500, 200)
		tg := dispatchGatewayWith(t, storage, s, "{max_attempts: 5, initial_interval: 10s, multiplier: 2, max_interval: 1m}")
		tg.Dispatcher().Jitter = func() float64 { return 0.5 } // no jitter: exactly the base interval
		r := tg.deliver("n1", `{"type":"order.paid"}`)

		tg.drain()
		got := tg.receipt(r.ID)
		if got.Status != hookgate.StatusFailed || got.NextAttemptAt == nil {
			t.Fatalf("after first failure: %+v", got)
		}
		if wait := got.NextAttemptAt.Sub(tg.clock.Now()); wait != 10*time.Second {
			t.Errorf("first backoff = %v, want 10s", wait)
		}
		tg.clock.Add(9 * time.Second)
		tg.drain()
		if s.count() != 1 {
			t.Fatalf("retried before it was due: %d calls", s.count())
		}
		tg.clock.Add(time.Second)
		tg.drain()
		got = tg.receipt(r.ID)
		if wait := got.NextAttemptAt.Sub(tg.clock.Now()); wait != 20*time.Second {
			t.Errorf("second backoff = %v, want 20s", wait)
		}
		tg.clock.Add(20 * time.Second)
		tg.drain()
		got = tg.receipt(r.ID)
		if got.Status != hookgate.StatusAcknowledged || len(got.Attempts) != 3 || s.count() != 3 {
			t.Fatalf("receipt = %s after %d calls, %d attempts", got.Status, s.count(), len(got.Attempts))
		}
		var states []string
		for _, h := range got.History {
			states = append(states, string(h.Status))
		}
		if want := "received,dispatched,failed,dispatched,failed,dispatched,acknowledged"; strings.Join(states, ",") != want {
			t.Errorf("history = %v", states)
		}
	})
}

func TestDispatchDeadAfterMaxAttemptsThenReplay(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 500, 500, 500, 200)
		tg := dispatchGatewayWith(t, storage, s, "{max_attempts: 3, initial_interval: 1s}")
		r := tg.deliver("n1", `{"type":"order.paid"}`)
		for i := 0; i < 5; i++ {
			tg.drain()
			tg.clock.Add(time.Hour)
		}
		got := tg.receipt(r.ID)
		if got.Status != hookgate.StatusDead || s.count() != 3 || !strings.Contains(got.Reason, "exhausted") {
			t.Fatalf("status %s reason %q after %d calls", got.Status, got.Reason, s.count())
		}

		var out map[string]any
		if st := tg.api("POST", "/api/v1/receipts/"+r.ID+"/replay", nil, &out); st != 202 {
			t.Fatalf("replay = %d %v", st, out)
		}
		tg.drain()
		got = tg.receipt(r.ID)
		if got.Status != hookgate.StatusAcknowledged || s.count() != 4 {
			t.Fatalf("after replay: %s, %d calls", got.Status, s.count())
		}
		if len(got.Attempts) != 4 {
			t.Errorf("replay must add attempts to the same receipt: %d", len(got.Attempts))
		}
	})
}

func TestDispatchNonRetryable4xxGoesDead(t *testing.T) {
	t.Parallel()
	s := newSink(t, 422)
	tg := dispatchGateway(t, s, "{max_attempts: 5}")
	r := tg.deliver("n1", `{"type":"order.paid"}`)
	tg.drain()
	got := tg.receipt(r.ID)
	if got.Status != hookgate.StatusDead || s.count() != 1 || !strings.Contains(got.Reason, "not retryable") {
		t.Fatalf("status %s reason %q calls %d", got.Status, got.Reason, s.count())
	}
	if got.Attempts[0].Outcome != hookgate.OutcomeFatal || got.Attempts[0].StatusCode != 422 {
		t.Errorf("attempt = %+v", got.Attempts[0])
	}
}

func TestDispatch429And408AreRetried(t *testing.T) {
	t.Parallel()
	for _, code := range []int{408, 429} {
		s := newSink(t, code, 200)
		tg := dispatchGateway(t, s, "{max_attempts: 5, initial_interval: 1s}")
		tg.Dispatcher().Jitter = func() float64 { return 0.5 } // exactly the base interval
		r := tg.deliver("n1", `{"type":"order.paid"}`)
		tg.drain()
		got := tg.receipt(r.ID)
		if got.Status != hookgate.StatusFailed || got.NextAttemptAt == nil || len(got.Attempts) != 1 ||
			got.Attempts[0].Outcome != hookgate.OutcomeFailure || got.Attempts[0].StatusCode != code {
			t.Fatalf("%d: after the first answer: status %s, attempts %+v", code, got.Status, got.Attempts)
		}
		// The retry is driven: once due, it is sent again and succeeds.
		tg.clock.Add(time.Second)
		tg.drain()
		got = tg.receipt(r.ID)
		if got.Status != hookgate.StatusAcknowledged || s.count() != 2 || len(got.Attempts) != 2 ||
			got.Attempts[1].StatusCode != 200 {
			t.Fatalf("%d: after the retry: status %s, %d calls, attempts %+v", code, got.Status, s.count(), got.Attempts)
		}
	}
}

func TestUnroutedEventIsFilteredAndReplayableLater(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := newTestGateway(t, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: %q}
`, s.srv.URL))
	conn := map[string]any{
		"type": "internal", "name": "svc", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
		"nonce_header": "X-Nonce", "event_type": "body:type",
		"routes": []map[string]any{{"events": []string{"order.*"}, "handlers": []string{"forward"}}},
	}
	if st := tg.api("POST", "/api/v1/connections", conn, nil); st != 201 {
		t.Fatalf("register = %d", st)
	}
	r := tg.deliver("n1", `{"type":"customer.created"}`)
	if r.Status != hookgate.StatusFiltered {
		t.Fatalf("status = %s", r.Status)
	}
	tg.drain()
	if s.count() != 0 {
		t.Fatal("a filtered receipt was dispatched")
	}
	// Later the connection routes the event: a replay dispatches the stored
	// receipt through the new route.
	routes := []map[string]any{{"events": []string{"order.*", "customer.*"}, "handlers": []string{"forward"}}}
	if st := tg.api("PATCH", "/api/v1/connections/internal/svc", map[string]any{"routes": routes}, nil); st != 200 {
		t.Fatalf("patch = %d", st)
	}
	var out map[string]any
	if st := tg.api("POST", "/api/v1/receipts/"+r.ID+"/replay", nil, &out); st != 202 {
		t.Fatalf("replay = %d %v", st, out)
	}
	tg.drain()
	got := tg.receipt(r.ID)
	if got.Status != hookgate.StatusAcknowledged || s.count() != 1 || s.bodies[0] != `{"type":"customer.created"}` {
		t.Fatalf("after replay: status %s, %d calls", got.Status, s.count())
	}
}

// TestOrderedHandlersRetryOnlyTheFailedOne: the Linear handler-registry
// pattern — handlers run in order, each independently; a retry does not
// call again the handlers that already succeeded in this round.
func TestOrderedHandlersRetryOnlyTheFailedOne(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		a, b := newSink(t, 200), newSink(t, 500, 200)
		tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: sla, type: http, url: %q}
  - {name: assign, type: http, url: %q}
connections:
  - {type: internal, name: lin, auth: secret, signature_header: X-Token, signing_secret: tok, routes: [{handlers: [sla, assign]}], retry: {initial_interval: 1s}}
`, a.srv.URL, b.srv.URL))
		st, _ := tg.post("/webhooks/internal/lin", http.Header{"X-Token": {"tok"}}, []byte(`{"type":"Issue"}`))
		if st != 204 {
			t.Fatal(st)
		}
		tg.drain()
		tg.clock.Add(time.Minute)
		tg.drain()
		if a.count() != 1 || b.count() != 2 {
			t.Fatalf("calls: sla=%d assign=%d, want 1 and 2", a.count(), b.count())
		}
		if got := tg.receipts("lin")[0]; got.Status != hookgate.StatusAcknowledged {
			t.Fatalf("status = %s", got.Status)
		}
	})
}

// TestGoFuncHandler: the embeddable package registers a handler in code.
func TestGoFuncHandler(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, ``)
	var mu sync.Mutex
	var seen []string
	err := tg.Handle("incident-lead", hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		mu.Lock()
		seen = append(seen, string(r.Body))
		mu.Unlock()
		return 0, false, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if st := tg.api("POST", "/api/v1/connections", map[string]any{
		"type": "internal", "name": "fn", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
		"routes": []map[string]any{{"handlers": []string{"incident-lead"}}},
	}, nil); st != 201 {
		t.Fatal(st)
	}
	tg.post("/webhooks/internal/fn", http.Header{"X-Token": {"tok"}}, []byte(`{"a":1}`))
	tg.drain()
	if len(seen) != 1 || seen[0] != `{"a":1}` {
		t.Fatalf("seen = %v", seen)
	}
}

// TestPanickingHandlerIsAFailedAttempt: a Go handler that panics must not
// kill the worker.
func TestPanickingHandlerIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	_ = tg.Handle("boom", hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { panic("kaboom") }))
	tg.api("POST", "/api/v1/connections", map[string]any{
		"type": "internal", "name": "p", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
		"routes": []map[string]any{{"handlers": []string{"boom"}}},
	}, nil)
	tg.post("/webhooks/internal/p", http.Header{"X-Token": {"tok"}}, []byte(`{}`))
	tg.drain()
	got := tg.receipts("p")[0]
	if got.Status != hookgate.StatusFailed || !strings.Contains(got.Reason, "panicked") {
		t.Fatalf("status %s reason %q", got.Status, got.Reason)
	}
}

// TestPausedConnectionHoldsThenResumes: nothing is dropped by configuration.
func TestPausedConnectionHoldsThenResumes(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 200)
		tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: %q}
`, s.srv.URL))
		if st := tg.api("POST", "/api/v1/connections", map[string]any{
			"type": "internal", "name": "p", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
			"paused": true, "routes": []map[string]any{{"handlers": []string{"forward"}}},
		}, nil); st != 201 {
			t.Fatal(st)
		}
		tg.post("/webhooks/internal/p", http.Header{"X-Token": {"tok"}}, []byte(`{"n":1}`))
		tg.drain()
		if got := tg.receipts("p")[0]; got.Status != hookgate.StatusHeld || s.count() != 0 {
			t.Fatalf("paused: status %s, %d calls", got.Status, s.count())
		}
		if st := tg.api("PATCH", "/api/v1/connections/internal/p", map[string]any{"paused": false}, nil); st != 200 {
			t.Fatal(st)
		}
		tg.drain()
		if got := tg.receipts("p")[0]; got.Status != hookgate.StatusAcknowledged || s.count() != 1 {
			t.Fatalf("resumed: status %s, %d calls", got.Status, s.count())
		}
	})
}

// TestGoHandlersSurviveRestart: a connection stored at run time that routes
// to a Go handler compiles again when the next process starts, because
// Options.Handlers are known before the first compile.
func TestGoHandlersSurviveRestart(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite://" + t.TempDir() + "/hookgate.db"
	cfg := func() *config.Config {
		c, _, _ := config.Parse(nil)
		c.Storage.URL = dbURL
		return c
	}
	noop := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { return 0, false, nil })
	handlers := map[string]hookgate.Sender{"audit": noop}
	ctx := context.Background()
	gw, err := New(ctx, cfg(), Options{Handlers: handlers})
	if err != nil {
		t.Fatal(err)
	}
	err = gw.AddConnection(ctx, &hookgate.Connection{Type: "internal", Name: "x", Auth: "secret", SignatureHeader: "X-Token",
		SigningSecret: "tok", Routes: []hookgate.Route{{Handlers: []string{"audit"}}}})
	gw.Close()
	if err != nil {
		t.Fatal(err)
	}
	gw2, err := New(ctx, cfg(), Options{Handlers: handlers})
	if err != nil {
		t.Fatalf("restart with a stored connection routing to a Go handler: %v", err)
	}
	gw2.Close()
}
