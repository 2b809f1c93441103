package gateway

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
	"github.com/hookgate/hookgate/config"
)

// dedupSink is a destination that deduplicates on Idempotency-Key, as SPEC
// §4.2 expects of one: it processes each key once and answers a repeat 200
// without processing it again. While down it answers 503.
type dedupSink struct {
	down      atomic.Bool
	mu        sync.Mutex
	processed map[string]int // key → times processed (must stay 1)
	repeats   int            // deliveries of a key already processed
	requests  atomic.Int64
	srv       *httptest.Server
}

func newDedupSink(t *testing.T) *dedupSink {
	s := &dedupSink{processed: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		if s.processed[key] > 0 {
			s.repeats++
		} else {
			s.processed[key]++
		}
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// circuitGateway dispatches connection svc to handler dest (the sink) with
// one worker, so that deliveries go one after the other, a retry every
// second, and a circuit of threshold failures and an hour.
func circuitGateway(t *testing.T, storageURL, sinkURL string, threshold int) *testGateway {
	return newTestGatewayOn(t, fmt.Sprintf(`
dispatch: {workers: 1}
unsigned_forwarding: true
handlers:
  - {name: dest, type: http, url: %q, timeout: 2s, circuit: {failure_threshold: %d, reset_timeout: 1h}}
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    nonce_header: X-Nonce
    retry: {max_attempts: 4, initial_interval: 1s, multiplier: 1, max_interval: 1s}
    routes: [{handlers: [dest]}]
`, sinkURL, threshold), storageURL)
}

// circuitOf answers dest's circuit from GET /api/v1/handlers.
func (tg *testGateway) circuitOf(name string) admin.CircuitInfo {
	tg.t.Helper()
	var out struct {
		Handlers []admin.HandlerInfo `json:"handlers"`
	}
	if st := tg.api(http.MethodGet, "/api/v1/handlers", nil, &out); st != 200 {
		tg.t.Fatalf("GET /api/v1/handlers = %d", st)
	}
	for _, h := range out.Handlers {
		if h.Name == name {
			return h.Circuit
		}
	}
	tg.t.Fatalf("no handler %s in %+v", name, out.Handlers)
	return admin.CircuitInfo{}
}

// attemptCounts answers each receipt's attempts, by nonce.
func (tg *testGateway) attemptCounts(conn string) map[string]int {
	tg.t.Helper()
	out := map[string]int{}
	for _, r := range tg.receipts(conn) {
		out[r.Nonce] = len(tg.receipt(r.ID).Attempts)
	}
	return out
}

// TestCircuitOpensReceiptsWaitThenEachIsDeliveredOnce: a destination that
// deduplicates on Idempotency-Key is down; after three failures its circuit
// opens and the receipts wait: their attempt counts stop growing and none
// goes dead, though the connection allows four attempts and hours pass. The
// circuit closes (by its probe after reset_timeout, or by hand) and every
// receipt is delivered, each exactly once.
func TestCircuitOpensReceiptsWaitThenEachIsDeliveredOnce(t *testing.T) {
	for _, closeBy := range []string{"probe", "reset"} {
		t.Run(closeBy, func(t *testing.T) {
			backends(t, func(t *testing.T, storage func(testing.TB) string) {
				sink := newDedupSink(t)
				sink.down.Store(true)
				tg := circuitGateway(t, storage(t), sink.srv.URL, 3)
				const n = 6
				for i := range n {
					tg.deliver(fmt.Sprint("n", i), `{}`)
				}
				tg.drain()
				c := tg.circuitOf("dest")
				if c.State != hookgate.CircuitOpen || c.ConsecutiveFailures != 3 || c.OpenedAt == nil || c.RetryAt == nil {
					t.Fatalf("after 3 failures the circuit is %+v, want open with 3 failures", c)
				}
				before := tg.attemptCounts("svc")
				requests := sink.requests.Load()
				if requests != 3 {
					t.Fatalf("the destination got %d requests, want 3 (then the circuit opened)", requests)
				}
				// Retries come due every second; for 50 minutes every one waits.
				for range 50 {
					tg.clock.Add(time.Minute)
					tg.drain()
				}
				if got := tg.attemptCounts("svc"); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Fatalf("attempts grew while the circuit was open: %v, then %v", before, got)
				}
				for _, r := range tg.receipts("svc") {
					if r.Status != hookgate.StatusReceived && r.Status != hookgate.StatusFailed {
						t.Fatalf("receipt %s is %s while the circuit is open, want it waiting (received or failed)", r.Nonce, r.Status)
					}
					if !strings.Contains(r.Reason, "circuit is open") {
						t.Fatalf("receipt %s waits with reason %q", r.Nonce, r.Reason)
					}
				}
				if sink.requests.Load() != requests {
					t.Fatalf("the destination got %d requests while the circuit was open", sink.requests.Load()-requests)
				}

				sink.down.Store(false)
				switch closeBy {
				case "probe":
					tg.clock.Add(10 * time.Minute) // past reset_timeout
				case "reset":
					var h admin.HandlerInfo
					if st := tg.api(http.MethodPost, "/api/v1/handlers/dest/reset", nil, &h); st != 200 || h.Circuit.State != hookgate.CircuitClosed {
						t.Fatalf("reset = %d %+v", st, h)
					}
				}
				tg.drain()
				for _, r := range tg.receipts("svc") {
					if r.Status != hookgate.StatusAcknowledged {
						t.Fatalf("receipt %s is %s %q after the circuit closed", r.Nonce, r.Status, r.Reason)
					}
				}
				if c := tg.circuitOf("dest"); c.State != hookgate.CircuitClosed || c.ConsecutiveFailures != 0 || c.OpenedAt != nil {
					t.Fatalf("circuit after closing: %+v", c)
				}
				sink.mu.Lock()
				defer sink.mu.Unlock()
				if len(sink.processed) != n || sink.repeats != 0 {
					t.Fatalf("the destination processed %d keys (want %d), and got %d repeats", len(sink.processed), n, sink.repeats)
				}
			})
		})
	}
}

// TestCircuitProbeFailureReopens: after reset_timeout one delivery probes the
// destination; it fails, the circuit opens again for another reset_timeout,
// and the other receipts are not sent.
func TestCircuitProbeFailureReopens(t *testing.T) {
	t.Parallel()
	sink := newDedupSink(t)
	sink.down.Store(true)
	tg := circuitGateway(t, sqliteURL(t), sink.srv.URL, 2)
	for i := range 4 {
		tg.deliver(fmt.Sprint("n", i), `{}`)
	}
	tg.drain()
	first := tg.circuitOf("dest")
	if first.State != hookgate.CircuitOpen || sink.requests.Load() != 2 {
		t.Fatalf("circuit %+v after %d requests, want open after 2", first, sink.requests.Load())
	}
	tg.clock.Add(time.Hour)
	tg.drain()
	if got := sink.requests.Load(); got != 3 {
		t.Fatalf("after reset_timeout the destination got %d requests, want 3 (one probe)", got)
	}
	again := tg.circuitOf("dest")
	if again.State != hookgate.CircuitOpen || again.ConsecutiveFailures != 3 || *again.OpenedAt == *first.OpenedAt {
		t.Fatalf("after the failed probe the circuit is %+v, want open again since the probe (was %+v)", again, first)
	}
	want := tg.clock.Now().Add(time.Hour).UTC().Format(admin.TimeFormat)
	if *again.RetryAt != want {
		t.Fatalf("retry_at %s, want %s (an hour after the probe)", *again.RetryAt, want)
	}
	tg.clock.Add(30 * time.Minute)
	tg.drain()
	if got := sink.requests.Load(); got != 3 {
		t.Fatalf("the reopened circuit let %d more requests through", got-3)
	}
	for _, r := range tg.receipts("svc") {
		if r.Status == hookgate.StatusDead {
			t.Fatalf("receipt %s went dead while its handler's circuit was open", r.Nonce)
		}
	}
}

// TestCircuitStoredForEveryInstance: the circuit is in the store. A second
// gateway on the same storage (a restart on SQLite, another instance on
// PostgreSQL) sees it open, holds its receipts, and a reset through either
// closes it for both.
func TestCircuitStoredForEveryInstance(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		sink := newDedupSink(t)
		sink.down.Store(true)
		url := storage(t)
		a := circuitGateway(t, url, sink.srv.URL, 2)
		for i := range 2 {
			a.deliver(fmt.Sprint("a", i), `{}`)
		}
		a.drain()
		if a.circuitOf("dest").State != hookgate.CircuitOpen {
			t.Fatal("circuit not open")
		}
		if strings.HasPrefix(url, "sqlite") {
			a.Close() // one process per SQLite file: a restart
		}
		b := circuitGateway(t, url, sink.srv.URL, 2)
		b.clock.Add(time.Second) // past the first retries' backoff
		if c := b.circuitOf("dest"); c.State != hookgate.CircuitOpen || c.ConsecutiveFailures != 2 {
			t.Fatalf("the other instance sees %+v", c)
		}
		requests := sink.requests.Load()
		b.deliver("b0", `{}`)
		b.drain()
		if sink.requests.Load() != requests {
			t.Fatal("the other instance sent a delivery through the open circuit")
		}
		sink.down.Store(false)
		if st := b.api(http.MethodPost, "/api/v1/handlers/dest/reset", nil, nil); st != 200 {
			t.Fatalf("reset = %d", st)
		}
		b.drain()
		for _, r := range b.receipts("svc") {
			if r.Status != hookgate.StatusAcknowledged {
				t.Fatalf("receipt %s: %s %q", r.Nonce, r.Status, r.Reason)
			}
		}
	})
}

// TestCircuitAPIErrors: resetting a handler that does not exist is 404 with
// the JSON error body; every handler is listed with a closed circuit.
func TestCircuitAPIErrors(t *testing.T) {
	t.Parallel()
	tg := circuitGateway(t, sqliteURL(t), "http://127.0.0.1:9/", 2)
	var e map[string]string
	if st := tg.api(http.MethodPost, "/api/v1/handlers/nope/reset", nil, &e); st != 404 || e["error"] != "not_found" || e["message"] == "" {
		t.Fatalf("reset unknown = %d %v", st, e)
	}
	if c := tg.circuitOf("dest"); c.State != hookgate.CircuitClosed || c.ConsecutiveFailures != 0 || c.OpenedAt != nil || c.RetryAt != nil {
		t.Fatalf("a handler that never failed: %+v", c)
	}
}

// TestCircuitVisible: an opening circuit is a handler.circuit_changed event
// on the live stream and moves hookgate_handler_circuit_state to 1.
func TestCircuitVisible(t *testing.T) {
	t.Parallel()
	sink := newDedupSink(t)
	sink.down.Store(true)
	tg := circuitGateway(t, sqliteURL(t), sink.srv.URL, 1)
	metric := func() string {
		_, b := do(t, mustRequest(t, http.MethodGet, tg.admin.URL+"/metrics"))
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `hookgate_handler_circuit_state{handler="dest"}`) {
				return line
			}
		}
		return ""
	}
	if m := metric(); !strings.HasSuffix(m, " 0") {
		t.Fatalf("metric before = %q, want 0", m)
	}
	req := mustRequest(t, http.MethodGet, tg.admin.URL+"/api/v1/events")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	tg.deliver("n0", `{}`)
	tg.drain()
	deadline := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case l := <-lines:
			if l == "event: handler.circuit_changed" {
				data := <-lines
				if !strings.Contains(data, `"handler":"dest"`) || !strings.Contains(data, `"state":"open"`) || !strings.Contains(data, `"from":"closed"`) {
					t.Fatalf("event data %s", data)
				}
				found = true
			}
		case <-deadline:
			t.Fatal("no handler.circuit_changed event")
		}
	}
	if m := metric(); !strings.HasSuffix(m, " 1") {
		t.Fatalf("metric while open = %q, want 1", m)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestRateLimitBoundsDeliveries: a handler with rate_limit 10 receives 25
// queued receipts spread over at least 2.4 s, never more than 11 in any
// second, and each with one attempt (waiting spends none).
func TestRateLimitBoundsDeliveries(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []time.Time
	)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, time.Now())
		mu.Unlock()
	}))
	defer dest.Close()
	cfg, _, err := config.Parse([]byte(fmt.Sprintf(`
dispatch: {workers: 8, poll_interval: 1s}
unsigned_forwarding: true
handlers:
  - {name: limited, type: http, url: %q, rate_limit: 10}
connections:
  - {type: internal, name: svc, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [limited]}]}
`, dest.URL)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = sqliteURL(t)
	gw, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)}) // the real clock
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ingest := httptest.NewServer(gw.Ingress())
	defer ingest.Close()
	const n = 25
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, ingest.URL+"/webhooks/internal/svc", strings.NewReader(`{}`))
		req.Header = http.Header{"X-Token": {"tok"}, "X-Nonce": {fmt.Sprint(i)}, "Content-Type": {"application/json"}}
		if st, b := do(t, req); st != 204 {
			t.Fatalf("deliver = %d %s", st, b)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- gw.Dispatcher().Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived in 20 s", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	times := append([]time.Time(nil), seen...)
	mu.Unlock()
	if span := times[n-1].Sub(times[0]); span < 2300*time.Millisecond {
		t.Fatalf("%d deliveries took %v; at 10 a second they take at least 2.4 s", n, span)
	}
	for i := range times {
		in := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < time.Second {
				in++
			}
		}
		if in > 11 {
			t.Fatalf("%d deliveries within a second from delivery %d, want at most 11", in, i)
		}
	}
	t.Logf("%d deliveries in %v", n, times[n-1].Sub(times[0]).Round(time.Millisecond))
	// Every receipt acknowledged with a single attempt.
	deadline = time.Now().Add(5 * time.Second)
	for {
		rs, _, err := gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: "svc", Status: hookgate.StatusAcknowledged, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == n {
			for _, r := range rs {
				if full, _ := gw.Store().Receipt(context.Background(), r.ID); len(full.Attempts) != 1 {
					t.Fatalf("receipt %s has %d attempts, want 1", r.ID, len(full.Attempts))
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipts acknowledged", len(rs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHandlerTimeoutAndRetryOverride: a handler's own timeout cuts a slow
// destination short, and its own retry policy, not the connection's, decides
// when a receipt goes dead: handler slow allows 2 attempts where the
// connection allows 5, handler patient 5 where the connection allows 2.
func TestHandlerTimeoutAndRetryOverride(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	failing := newSink(t, 500)
	tg := newTestGateway(t, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: slow, type: http, url: %q, timeout: 200ms, retry: {max_attempts: 2}}
  - {name: patient, type: http, url: %q, retry: {max_attempts: 5}}
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     retry: {max_attempts: 5, initial_interval: 1s}, routes: [{handlers: [slow]}]}
  - {type: internal, name: b, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     retry: {max_attempts: 2, initial_interval: 1s}, routes: [{handlers: [patient]}]}
  - {type: internal, name: c, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     routes: [{handlers: [patient, slow]}]}
`, slow.URL, failing.srv.URL))
	for _, conn := range []string{"a", "b", "c"} {
		if st, b := tg.post("/webhooks/internal/"+conn, http.Header{"X-Token": {"tok"}, "X-Nonce": {"x"}}, []byte(`{}`)); st != 204 {
			t.Fatalf("deliver = %d %s", st, b)
		}
	}
	start := time.Now()
	tg.drain()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the first pass took %v: the 200ms timeout did not cut the 5 s destination short", took)
	}
	a := tg.receipt(tg.receipts("a")[0].ID)
	if len(a.Attempts) != 1 || !strings.Contains(a.Attempts[0].Error, "deadline exceeded") || a.Status != hookgate.StatusFailed {
		t.Fatalf("slow: %s, attempts %+v", a.Status, a.Attempts)
	}
	for range 10 {
		tg.clock.Add(time.Hour)
		tg.drain()
	}
	a = tg.receipt(a.ID)
	if a.Status != hookgate.StatusDead || len(a.Attempts) != 2 || !strings.Contains(a.Reason, "after 2 attempts") {
		t.Fatalf("slow: %s %q after %d attempts, want dead after its own 2", a.Status, a.Reason, len(a.Attempts))
	}
	b := tg.receipt(tg.receipts("b")[0].ID)
	if b.Status != hookgate.StatusDead || len(b.Attempts) != 5 || !strings.Contains(b.Reason, "after 5 attempts") {
		t.Fatalf("patient: %s %q after %d attempts, want dead after its own 5", b.Status, b.Reason, len(b.Attempts))
	}
	// Both handlers of c fail: slow has no attempt left after 2, whatever
	// patient allows, and the reason names it.
	c := tg.receipt(tg.receipts("c")[0].ID)
	if c.Status != hookgate.StatusDead || len(c.Attempts) != 4 || !strings.Contains(c.Reason, "after 2 attempts: slow:") {
		t.Fatalf("two handlers: %s %q after %d attempts, want dead when slow's 2 are spent", c.Status, c.Reason, len(c.Attempts))
	}
}
