package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookgate/hookgate"
)

// noise returns n random hex digits: a body the store cannot compress, so
// that its stored size is its size.
func noise(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// storedBytes is what a connection's receipts keep in headers and bodies.
func (tg *testGateway) storedBytes(conn string) (total int64, perReceipt []int64) {
	tg.t.Helper()
	for _, r := range tg.receipts(conn) {
		full := tg.receipt(r.ID)
		h, _ := json.Marshal(full.Headers)
		n := int64(len(h) + len(full.Body))
		total += n
		perReceipt = append(perReceipt, n)
	}
	return total, perReceipt
}

// TestRejectedBodiesStayWithinBudget: the background pass keeps a
// connection's rejected headers and bodies within its byte budget, newest
// kept.
func TestRejectedBodiesStayWithinBudget(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	for i := 0; i < 5; i++ {
		body := []byte(`{"pad":"` + noise(90) + `"}`)
		tg.post("/webhooks/github/gh", githubHeaders("wrong", body), body)
	}
	_, sizes := tg.storedBytes("gh")
	if len(sizes) != 5 {
		t.Fatalf("%d rejected receipts recorded, want 5", len(sizes))
	}
	// Room for two and a half of them (sizes differ by a few bytes at most).
	tg.maint.budget = hookgate.RejectedBudget{Bytes: sizes[0]*2 + sizes[0]/2, Receipts: 100}
	tg.PruneRejected(context.Background())
	rs := tg.receipts("gh") // newest first
	for i, r := range rs {
		if kept := tg.receipt(r.ID).Body != nil; kept != (i < 2) {
			t.Fatalf("receipt %d (newest first) kept its body: %v; want the newest two kept", i, kept)
		}
	}
}

// blockingPrune is a store whose rejected-budget pass waits for release.
type blockingPrune struct {
	hookgate.Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockingPrune) PruneRejected(ctx context.Context, conn string, b hookgate.RejectedBudget) (int64, int64, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return s.Store.PruneRejected(ctx, conn, b)
}

// TestRecordingARejectionDoesNotWaitForPruning: the answer to a forged
// request never waits for the connection's budget to be enforced (which
// once ran a query over all of the connection's rejected receipts in the
// write lane, for every rejection): with the pass stuck, forged requests
// are still answered, and recorded.
func TestRecordingARejectionDoesNotWaitForPruning(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	bp := &blockingPrune{Store: tg.store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	tg.store = bp
	tg.ingress.Store = bp
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tg.rejectedLoop(ctx) }()
	t.Cleanup(func() { close(bp.release); cancel(); <-done })
	select {
	case <-bp.entered: // the first pass (at start) is stuck
	case <-time.After(30 * time.Second):
		t.Fatal("the rejected-budget loop never ran")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 20 {
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		req, _ := http.NewRequest(http.MethodPost, tg.ingest.URL+"/webhooks/github/gh", strings.NewReader(string(body)))
		req.Header = githubHeaders("wrong", body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("forged request %d while pruning is stuck: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged request %d = %d", i, resp.StatusCode)
		}
	}
	if n := len(tg.receipts("gh")); n != 20 {
		t.Fatalf("%d rejections recorded, want 20", n)
	}
}

// TestForgedFloodWithLargeHeadersStaysBounded: forged requests with a 60 KiB
// header each keep at most about 8 KiB of headers, and the running gateway
// brings the connection within its budget by itself.
func TestForgedFloodWithLargeHeadersStaysBounded(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	const budget = 64 << 10
	tg.maint.budget = hookgate.RejectedBudget{Bytes: budget, Receipts: 1000}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tg.pruneLoop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	huge := strings.Repeat("x", 60<<10)
	const sent = 30 // within the recording burst (50): every one is recorded
	for i := range sent {
		body := []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, noise(1000)))
		h := githubHeaders("wrong", body)
		h.Set("X-Huge", huge)
		if st, _ := tg.post("/webhooks/github/gh", h, body); st != http.StatusUnauthorized {
			t.Fatalf("forged request = %d", st)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, sizes := tg.storedBytes("gh")
		if len(sizes) != sent {
			t.Fatalf("%d rejections recorded, want %d", len(sizes), sent)
		}
		for _, n := range sizes {
			if n > 12<<10 {
				t.Fatalf("a rejected receipt keeps %d bytes of headers and body (a 60 KiB header must be capped)", n)
			}
		}
		if total <= budget {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection keeps %d bytes of rejected headers and bodies, budget %d", total, budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logLines is a slog.Handler that counts records by message.
type logLines struct {
	mu    sync.Mutex
	count map[string]int
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.count[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *logLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logLines) WithGroup(string) slog.Handler      { return h }

// TestForgedFloodLogsAggregated: a flood of forged requests on one
// connection writes one rejection line, not one per request (the counts
// follow every interval, ingress/rejectlog.go).
func TestForgedFloodLogsAggregated(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	lines := &logLines{count: map[string]int{}}
	tg.ingress.Logger = slog.New(lines)
	tg.ingress.RejectLogInterval = time.Hour
	const sent = 200
	for i := range sent {
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		if st, _ := tg.post("/webhooks/github/gh", githubHeaders("wrong", body), body); st != http.StatusUnauthorized {
			t.Fatalf("forged request = %d", st)
		}
	}
	lines.mu.Lock()
	defer lines.mu.Unlock()
	if n := lines.count["webhook rejected"]; n != 1 {
		t.Fatalf("%d forged requests logged %d rejection lines, want 1 (then one count per interval)", sent, n)
	}
}

// TestRetentionPrunesOldReceipts: the maintenance deletes receipts older
// than webhooks.retention_days and counts them in hookgate_pruned_total.
func TestRetentionPrunesOldReceipts(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
webhooks: {retention_days: 2}
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	post := func(n int) {
		body := []byte(fmt.Sprintf(`{"n":%d}`, n))
		if st, _ := tg.post("/webhooks/github/gh", githubHeaders("s", body), body); st != http.StatusNoContent {
			t.Fatalf("delivery = %d", st)
		}
	}
	post(1) // no route: filtered, done with dispatch
	tg.clock.Add(24 * time.Hour)
	post(2)
	tg.clock.Add(24*time.Hour + time.Second)
	tg.pruneRetention(context.Background())
	rs := tg.receipts("gh")
	if len(rs) != 1 {
		t.Fatalf("%d receipts left, want 1 (the one younger than 2 days)", len(rs))
	}
	var m dto.Metric
	if err := tg.maint.pruned.WithLabelValues("receipts").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("hookgate_pruned_total{kind=receipts} = %v, want 1", got)
	}
}
