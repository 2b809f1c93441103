package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/verify"
)

// orderSink is an HTTP destination that records, per ordering key, the
// order in which deliveries arrive; it fails the first attempt of every
// receipt whose place in its key is 3 modulo 7, and notes any delivery that
// arrives while another of its key is still being answered.
type orderSink struct {
	mu         sync.Mutex
	arrived    map[string][]int // key → places, in arrival order (a retry repeats its place)
	failed     map[string]bool  // key/place failed once
	inFlight   map[string]bool
	now, most  int // deliveries being answered, and the most at once
	violations []string
	srv        *httptest.Server
}

func newOrderSink(t *testing.T) *orderSink {
	s := &orderSink{arrived: map[string][]int{}, failed: map[string]bool{}, inFlight: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Object struct {
					ID string `json:"id"`
				} `json:"object"`
			} `json:"data"`
			Place int `json:"place"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		key, place := body.Data.Object.ID, body.Place
		s.mu.Lock()
		if s.inFlight[key] {
			s.violations = append(s.violations, fmt.Sprintf("%s #%d arrived while another of its key was in flight", key, place))
		}
		s.inFlight[key] = true
		s.arrived[key] = append(s.arrived[key], place)
		s.now++
		s.most = max(s.most, s.now)
		fail := place%7 == 3 && !s.failed[fmt.Sprint(key, "/", place)]
		if fail {
			s.failed[fmt.Sprint(key, "/", place)] = true
		}
		s.mu.Unlock()
		time.Sleep(3 * time.Millisecond) // the destination at work
		s.mu.Lock()
		delete(s.inFlight, key)
		s.now--
		s.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// TestOrderingKeyEndToEnd: a route with ordering_key delivers the receipts of
// each key one at a time in the order they arrived, a failed one retried
// before any later one of its key, while different keys are delivered at
// the same time by the real dispatcher (8 workers).
func TestOrderingKeyEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newOrderSink(t)
		tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
signing_secret: %s
dispatch: {workers: 8, poll_interval: 10ms, lease: 1h}
handlers:
  - {name: forward, type: http, url: %q, timeout: 5s}
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    nonce_header: X-Nonce
    event_type: body:type
    retry: {max_attempts: 5, initial_interval: 1s}
    routes:
      - {events: ["invoice.*"], ordering_key: body.data.object.id, handlers: [forward]}
`, hookgateSecret, s.srv.URL))
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- tg.Dispatcher().Run(ctx) }()
		defer func() { stop(); <-ran }()
		// Retries are due by the gateway's clock: move it on. It runs 200
		// times faster than real time, so the lease is an hour of it: a
		// delivery slowed by a loaded machine must not outlive its lease
		// (which would let another claim overlap it, as a crash would).
		go func() {
			for ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
				tg.clock.Add(time.Second)
			}
		}()

		const keys, perKey = 5, 20
		for place := range perKey {
			for k := range keys {
				body := fmt.Sprintf(`{"type":"invoice.updated","place":%d,"data":{"object":{"id":"in_%d"}}}`, place, k)
				st, b := tg.post("/webhooks/internal/svc", http.Header{"X-Token": {"tok"},
					"X-Nonce": {fmt.Sprint(k, "-", place)}}, []byte(body))
				if st != 204 {
					t.Fatalf("deliver = %d %s", st, b)
				}
			}
		}
		deadline := time.Now().Add(time.Minute)
		for {
			acked := 0
			for _, r := range tg.receipts("svc") {
				if r.Status == hookgate.StatusAcknowledged {
					acked++
				}
			}
			if acked == keys*perKey {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d receipts acknowledged after a minute", acked, keys*perKey)
			}
			time.Sleep(20 * time.Millisecond)
		}

		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.violations) > 0 {
			t.Fatalf("%d deliveries overlapped another of their key; first: %s", len(s.violations), s.violations[0])
		}
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		for k := range keys {
			key := fmt.Sprint("in_", k)
			got := slices.Compact(slices.Clone(s.arrived[key]))
			if !slices.Equal(got, want) {
				t.Errorf("key %s arrived in the order %v, want %v with each failure retried at once", key, s.arrived[key], want)
			}
		}
		if s.most < 2 {
			t.Errorf("at most %d delivery at once: different keys must go in parallel", s.most)
		}
	})
}

// TestOrderingKeySources: the key is read at ingest, after verification, from
// the first matching route that sets ordering_key, in the SPEC's dotted form
// or the body:/header: source form; a missing field leaves the receipt
// unordered, a long value is stored as its hash, and a bad spec is refused
// when the connection is compiled.
func TestOrderingKeySources(t *testing.T) {
	t.Parallel()
	wh := &config.Default().Webhooks
	handlers := map[string]*compiledHandler{"h": {}}
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name, spec, events, body string
		header                   http.Header
		want                     string
	}{
		{"dotted", "body.data.object.id", "", `{"type":"a","data":{"object":{"id":"in_1"}}}`, nil, "in_1"},
		{"source form", "body:data.object.id", "", `{"type":"a","data":{"object":{"id":"in_2"}}}`, nil, "in_2"},
		{"header", "header:X-Account", "", `{"type":"a"}`, http.Header{"X-Account": {"acct_9"}}, "acct_9"},
		{"joined", "body.customer+body.invoice", "", `{"type":"a","customer":"c1","invoice":7}`, nil, "c1.7"},
		{"missing field", "body.data.object.id", "", `{"type":"a"}`, nil, ""},
		{"route not matched", "body.id", "b.*", `{"type":"a","id":"x"}`, nil, ""},
		{"long value hashed", "body.id", "", `{"type":"a","id":"` + long + `"}`, nil, "sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes := []hookgate.Route{{Events: []string{"a"}, Handlers: []string{"h"}}}
			if tc.events != "" {
				routes = []hookgate.Route{{Events: []string{tc.events}, OrderingKey: tc.spec, Handlers: []string{"h"}},
					{Handlers: []string{"h"}}}
			} else {
				routes = append([]hookgate.Route{{Events: []string{"zzz"}, Handlers: []string{"h"}}},
					hookgate.Route{OrderingKey: tc.spec, Handlers: []string{"h"}})
			}
			c := &hookgate.Connection{Type: "internal", Name: "svc", Auth: "secret", SignatureHeader: "X-Token",
				SigningSecret: "tok", EventType: "body:type", Routes: routes}
			ep, err := compileConnection(wh, handlers, c)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{"Content-Type": {"application/json"}}
			for k, v := range tc.header {
				h[k] = v
			}
			rc, err := ep.Accept(h, []byte(tc.body), verify.Result{})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "sha256:":
				if !strings.HasPrefix(rc.OrderingKey, "sha256:") || len(rc.OrderingKey) != len("sha256:")+64 {
					t.Errorf("key %q, want the hash of the long value", rc.OrderingKey)
				}
			case rc.OrderingKey != tc.want:
				t.Errorf("key %q, want %q", rc.OrderingKey, tc.want)
			}
		})
	}
	// Without any ordering_key, ingress reads nothing for it.
	c := &hookgate.Connection{Type: "internal", Name: "svc", Auth: "secret", SignatureHeader: "X-Token",
		SigningSecret: "tok", Routes: []hookgate.Route{{Handlers: []string{"h"}}}}
	if ep, err := compileConnection(wh, handlers, c); err != nil || ep.OrderingKeys != nil {
		t.Errorf("a connection without ordering keys compiled to %v (%v)", ep.OrderingKeys, err)
	}
	for _, bad := range []string{"data.object.id", "body:", "query:x", "body.a+"} {
		c := &hookgate.Connection{Type: "internal", Name: "svc", Auth: "secret", SignatureHeader: "X-Token",
			SigningSecret: "tok", Routes: []hookgate.Route{{OrderingKey: bad, Handlers: []string{"h"}}}}
		if _, err := compileConnection(wh, handlers, c); err == nil || !strings.Contains(err.Error(), "ordering_key") {
			t.Errorf("ordering_key %q: compiled (err %v), want it refused", bad, err)
		}
	}
}
