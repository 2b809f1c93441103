package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// scrape reads the exposition the way Prometheus does and returns each
// sample line's value by its name and labels.
func scrape(t *testing.T, m *Metrics) map[string]string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape = %d %s", resp.StatusCode, b)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSamples(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestRequestCollectors(t *testing.T) {
	t.Parallel()
	m := New(nil, func() time.Time { return t0 })
	m.ObserveRequest("gh", 204, 3*time.Millisecond, "")
	m.ObserveRequest("gh", 204, 30*time.Millisecond, "")
	m.ObserveRequest("gh", 401, time.Millisecond, "unauthorized")
	m.ObserveRequest("", 404, time.Millisecond, "not_found")
	got := scrape(t, m)
	assertSamples(t, got, map[string]string{
		`hookgate_webhook_requests_total{connection="gh",status="204"}`:              "2",
		`hookgate_webhook_requests_total{connection="gh",status="401"}`:              "1",
		`hookgate_webhook_requests_total{connection="(unknown)",status="404"}`:       "1",
		`hookgate_webhook_rejected_total{connection="gh",reason="unauthorized"}`:     "1",
		`hookgate_webhook_rejected_total{connection="(unknown)",reason="not_found"}`: "1",
		`hookgate_webhook_ingress_seconds_count{connection="gh"}`:                    "3",
		`hookgate_webhook_ingress_seconds_bucket{connection="gh",le="0.001"}`:        "1",
		`hookgate_webhook_ingress_seconds_bucket{connection="gh",le="0.005"}`:        "2",
		`hookgate_webhook_ingress_seconds_bucket{connection="gh",le="0.05"}`:         "3",
		`hookgate_webhook_ingress_seconds_sum{connection="gh"}`:                      "0.034",
		`hookgate_webhook_ingress_seconds_count{connection="(unknown)"}`:             "1",
	})
	for k := range got {
		// A success is not a rejection: no sample without a reason.
		if strings.HasPrefix(k, "hookgate_webhook_rejected_total") && strings.Contains(k, `reason=""`) {
			t.Errorf("success counted as a rejection: %s", k)
		}
		// A refused request is not a processing failure, and ingress
		// time is not processing time (seed 002 times background work).
		if strings.HasPrefix(k, "hookgate_webhook_failures_total") || strings.HasPrefix(k, "hookgate_webhook_processing_seconds") {
			t.Errorf("ingress request counted as processing: %s", k)
		}
	}
	// Without a store there is no queue to report.
	if _, ok := got["hookgate_queue_depth"]; ok {
		t.Error("queue depth reported without a store")
	}
}

func TestAttemptAndTransitionCollectors(t *testing.T) {
	t.Parallel()
	m := New(nil, func() time.Time { return t0 })
	gh := &hookgate.Receipt{Connection: "gh"}
	m.ObserveAttempt(gh, hookgate.Attempt{Handler: "forward", Outcome: hookgate.OutcomeSuccess}, "")
	m.ObserveAttempt(gh, hookgate.Attempt{Handler: "forward", Outcome: hookgate.OutcomeFailure}, "http_5xx")
	m.ObserveAttempt(gh, hookgate.Attempt{Handler: "forward", Outcome: hookgate.OutcomeFailure}, "timeout")
	m.ObserveAttempt(gh, hookgate.Attempt{Handler: "audit", Outcome: hookgate.OutcomeFatal}, "http_4xx")
	m.ObserveProcessed(gh, hookgate.Completion{Status: hookgate.StatusAcknowledged}, 40*time.Millisecond)
	m.ObserveProcessed(gh, hookgate.Completion{Status: hookgate.StatusDead, FailureType: "transform"}, 2*time.Millisecond)
	// Counted by the state entered, not the one left.
	for _, tr := range []hookgate.Transition{
		{Status: hookgate.StatusReceived},
		{From: hookgate.StatusDead, Status: hookgate.StatusReceived, Reason: "replay"},
		{From: hookgate.StatusFailed, Status: hookgate.StatusDead},
		{From: hookgate.StatusReceived, Status: "custom"},
	} {
		m.ObserveTransition(tr)
	}
	got := scrape(t, m)
	want := map[string]string{
		`hookgate_dispatch_attempts_total{handler="forward",outcome="success"}`:   "1",
		`hookgate_dispatch_attempts_total{handler="forward",outcome="failure"}`:   "2",
		`hookgate_dispatch_attempts_total{handler="audit",outcome="fatal"}`:       "1",
		`hookgate_webhook_failures_total{connection="gh",error_type="http_5xx"}`:  "1",
		`hookgate_webhook_failures_total{connection="gh",error_type="timeout"}`:   "1",
		`hookgate_webhook_failures_total{connection="gh",error_type="http_4xx"}`:  "1",
		`hookgate_webhook_failures_total{connection="gh",error_type="transform"}`: "1",
		`hookgate_webhook_processing_seconds_count{connection="gh"}`:              "2",
		`hookgate_webhook_processing_seconds_sum{connection="gh"}`:                "0.042",
		`hookgate_receipt_transitions_total{status="received"}`:                   "2",
		`hookgate_receipt_transitions_total{status="dead"}`:                       "1",
		`hookgate_receipt_transitions_total{status="custom"}`:                     "1",
	}
	// Every known state is exported from the start (0 until it happens), so
	// a rate() over it has a series to start from.
	for _, st := range hookgate.Statuses() {
		k := fmt.Sprintf(`hookgate_receipt_transitions_total{status=%q}`, st)
		if _, ok := want[k]; !ok {
			want[k] = "0"
		}
	}
	assertSamples(t, got, want)
}

// TestQueueCollector reads the queue of a real store at scrape time: receipts
// waiting for dispatch, and the age of the oldest, on the metrics clock.
func TestQueueCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hookgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := t0
	m := New(db, func() time.Time { return now })
	assertSamples(t, scrape(t, m), map[string]string{"hookgate_queue_depth": "0", "hookgate_queue_oldest_pending_seconds": "0"})

	for i, st := range []hookgate.Status{hookgate.StatusReceived, hookgate.StatusReceived, hookgate.StatusFiltered} {
		r := &hookgate.Receipt{ID: fmt.Sprint("r", i), ConnectionType: "internal", Connection: "c", Nonce: fmt.Sprint(i),
			IdempotencyKey: fmt.Sprint("c::", i), Status: st, ReceivedAt: t0.Add(time.Duration(i) * 10 * time.Second),
			Headers: http.Header{}, Body: []byte(`{}`)}
		if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	now = t0.Add(70 * time.Second)
	// The filtered receipt is stored but waits for nothing.
	assertSamples(t, scrape(t, m), map[string]string{"hookgate_queue_depth": "2", "hookgate_queue_oldest_pending_seconds": "70"})

	// A store that cannot answer makes the scrape fail, rather than report an
	// empty queue.
	db.Close()
	if _, err := m.Registry.Gather(); err == nil || !strings.Contains(err.Error(), "queue stats") {
		t.Fatalf("gather on a closed store: %v", err)
	}
}
