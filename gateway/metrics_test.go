package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	down := newSink(t, 503)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`"}
  - {name: down, type: http, url: "`+down.srv.URL+`", retry: {max_attempts: 1}}
connections:
  - {type: internal, name: m, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward]}]}
  - {type: internal, name: f, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [down]}]}
`)
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.post("/webhooks/internal/f", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"bad"}}, []byte(`{}`))
	tg.post("/webhooks/internal/nope", nil, []byte(`{}`))
	// A job scheduled but not yet dispatched is in the queue.
	waitFor(t, "hookgate_queue_depth 2", func() bool { return strings.Contains(scrape(t, tg), "hookgate_queue_depth 2") })
	tg.drain()

	want := []string{
		`hookgate_webhook_requests_total{connection="m",status="204"} 1`,
		`hookgate_webhook_requests_total{connection="m",status="401"} 1`,
		`hookgate_webhook_requests_total{connection="(unknown)",status="404"} 1`,
		// Refused requests and ingress latency have their own series;
		// processing and its failures are the dispatch (seed 002).
		`hookgate_webhook_rejected_total{connection="m",reason="unauthorized"} 1`,
		`hookgate_webhook_ingress_seconds_count{connection="m"} 2`,
		`hookgate_webhook_processing_seconds_count{connection="m"} 1`,
		`hookgate_webhook_processing_seconds_count{connection="f"} 1`,
		`hookgate_webhook_failures_total{connection="f",error_type="http_5xx"} 1`,
		`hookgate_dispatch_attempts_total{handler="down",outcome="failure"} 1`,
		`hookgate_receipt_transitions_total{status="dead"} 1`,
		`hookgate_dispatch_attempts_total{handler="forward",outcome="success"} 1`,
		`hookgate_receipt_transitions_total{status="acknowledged"} 1`,
		`hookgate_receipt_transitions_total{status="rejected"} 1`,
		`hookgate_queue_depth 0`,
	}
	var out string
	missing := func() []string {
		out = scrape(t, tg)
		var m []string
		for _, w := range want {
			if !strings.Contains(out, w) {
				m = append(m, w)
			}
		}
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("metrics still missing after 10 s: %q\n%s", m, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReceiptsByState: hookgate_receipts counts what the store holds, by
// connection and state, including rejected receipts.
func TestReceiptsByState(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	down := newSink(t, 503)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`"}
  - {name: down, type: http, url: "`+down.srv.URL+`", retry: {max_attempts: 1}}
connections:
  - {type: internal, name: m, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward]}]}
  - {type: internal, name: f, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [down]}]}
`)
	for i := range 3 {
		tg.post("/webhooks/internal/m", http.Header{"X-Token": {"tok"}, "X-Nonce": {fmt.Sprint(i)}}, []byte(`{}`))
	}
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"bad"}}, []byte(`{}`))
	tg.post("/webhooks/internal/f", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.drain()
	out := scrape(t, tg)
	for _, w := range []string{
		`hookgate_receipts{connection="m",status="acknowledged"} 3`,
		`hookgate_receipts{connection="m",status="rejected"} 1`,
		`hookgate_receipts{connection="f",status="dead"} 1`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("metrics miss %s", w)
		}
	}
}

func scrape(t *testing.T, tg *testGateway) string {
	t.Helper()
	resp, err := http.Get(tg.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor polls cond for up to 10 s (transitions reach metrics through the
// asynchronous event stream) and fails the test if it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
