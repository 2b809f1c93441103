package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// TestServeNoDispatch runs Serve with Options.NoDispatch: a delivery is
// stored and queued but not dispatched, until the caller runs Run.
func TestServeNoDispatch(t *testing.T) {
	t.Parallel()
	cfg, _, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
connections:
  - {type: github, name: primary, signing_secret: bench-secret, routes: [{handlers: [audit]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db")
	// A dispatcher polls every 10 ms besides being woken by each delivery,
	// so had Serve started one, it would call audit well within noDispatchBound.
	cfg.Dispatch.PollInterval = hookgate.Duration(10 * time.Millisecond)
	const noDispatchBound = 2 * time.Second
	var delivered atomic.Int64
	calls := make(chan struct{}, 10)
	audit := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) {
		delivered.Add(1)
		calls <- struct{}{}
		return 0, false, nil
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := New(context.Background(), cfg, Options{Logger: logger, NoDispatch: true,
		Handlers: map[string]hookgate.Sender{"audit": audit}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ls, err := gw.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ls) }()
	defer func() { stop(); <-served }()

	req := benchRequest(1, "bench-secret")
	req.RequestURI, req.URL.Scheme, req.URL.Host = "", "http", ls.Public.Addr().String()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delivery answered %d", resp.StatusCode)
	}
	rs, _, err := gw.Store().Receipts(ctx, hookgate.ReceiptFilter{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("receipts: %v, %v", rs, err)
	}
	select {
	case <-calls:
		t.Fatal("Serve with NoDispatch dispatched the receipt")
	case <-time.After(noDispatchBound):
	}
	if got, _ := gw.Store().Receipt(ctx, rs[0].ID); got.Status != hookgate.StatusReceived || delivered.Load() != 0 {
		t.Fatalf("without a dispatcher the receipt is %s, %d deliveries", got.Status, delivered.Load())
	}

	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- gw.Run(runCtx) }()
	defer func() { stopRun(); <-ran }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := gw.Store().Receipt(ctx, rs[0].ID)
		if err == nil && got.Status == hookgate.StatusAcknowledged && delivered.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not deliver the queued receipt: %+v, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
