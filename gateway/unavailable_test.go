package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store"
)

// failingIngest is a real store whose durable write of a delivery fails.
type failingIngest struct{ hookgate.Store }

func (failingIngest) Ingest(context.Context, *hookgate.Receipt, time.Duration) (hookgate.Transition, error) {
	return hookgate.Transition{}, errors.New("disk full")
}

// TestGatewayAnswers503WhenTheWriteFails: the assembled gateway keeps SPEC §2
// check 11 — a failed write is 503 with Retry-After and the JSON error body,
// nothing reaches the event stream or the queue, and the metrics count a 503.
func TestGatewayAnswers503WhenTheWriteFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, _, err := config.Parse([]byte(`
connections:
  - {type: internal, name: w, auth: secret, signature_header: X-Token, signing_secret: tok, routes: [{handlers: [audit]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, sqliteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	audit := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { return 0, false, nil })
	gw, err := New(ctx, cfg, Options{Store: failingIngest{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handlers: map[string]hookgate.Sender{"audit": audit}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ingest := httptest.NewServer(gw.Ingress())
	defer ingest.Close()
	adminSrv := httptest.NewServer((&admin.API{GW: gw, Logger: slog.New(slog.DiscardHandler)}).Routes())
	defer adminSrv.Close()
	// Ingress publishes before it answers, so anything published is in the
	// buffer by the time the answer arrives.
	events, stop := gw.Events().Subscribe(16)
	defer stop()

	req, _ := http.NewRequest(http.MethodPost, ingest.URL+"/webhooks/internal/w", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("answer = %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	assertErrorBody(t, body, hookgate.EUnavailable)
	if n := len(events); n != 0 {
		t.Errorf("%d transitions on the event stream for a receipt that was not stored", n)
	}
	if n, err := gw.Dispatcher().RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("dispatcher found %d receipts (%v) after a failed write", n, err)
	}
	if rs, _, err := st.Receipts(ctx, hookgate.ReceiptFilter{}); err != nil || len(rs) != 0 {
		t.Errorf("receipts after a failed write: %d, %v", len(rs), err)
	}
	metricsResp, err := http.Get(adminSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(metricsResp.Body)
	metricsResp.Body.Close()
	for _, want := range []string{
		`hookgate_webhook_requests_total{connection="w",status="503"} 1`,
		`hookgate_webhook_rejected_total{connection="w",reason="storage_unavailable"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics miss %s", want)
		}
	}
}
