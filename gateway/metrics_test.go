package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`"}
connections:
  - {type: internal, name: m, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward]}]}
`)
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"bad"}}, []byte(`{}`))
	tg.post("/webhooks/internal/nope", nil, []byte(`{}`))
	// A job scheduled but not yet dispatched is in the queue.
	waitFor(t, "hookgate_queue_depth 1", func() bool { return strings.Contains(scrape(t, tg), "hookgate_queue_depth 1") })
	tg.drain()

	want := []string{
		`hookgate_webhook_requests_total{connection="m",status="204"} 1`,
		`hookgate_webhook_requests_total{connection="m",status="401"} 1`,
		`hookgate_webhook_requests_total{connection="(unknown)",status="404"} 1`,
		`hookgate_webhook_failures_total{connection="m",error_type="unauthorized"} 1`,
		`hookgate_webhook_processing_seconds_count{connection="m"} 2`,
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
