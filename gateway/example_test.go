package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// postGitHub sends body as GitHub would, signed with secret, and returns
// the status code of the answer.
func postGitHub(url, secret, delivery string, body []byte) int {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An application builds the gateway in code, registers a Go handler, mounts
// the receiver in its own ServeMux and dispatches. The provider gets its
// answer once the delivery is stored; the handler runs afterwards, from the
// dispatcher.
func Example() {
	dir, _ := os.MkdirTemp("", "hookgate-example")
	defer os.RemoveAll(dir)

	cfg := config.Default()
	cfg.Storage.URL = "sqlite://" + filepath.Join(dir, "hookgate.db")
	cfg.Connections = []hookgate.Connection{{
		Type: "github", Name: "primary", SigningSecret: "gh-secret",
		Routes: []hookgate.Route{{Events: []string{"push"}, Handlers: []string{"audit"}}},
	}}
	audit := hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		fmt.Printf("audit: %s from %s: %s\n", r.EventType, r.Connection, r.Body)
		return 0, false, nil
	})
	ctx := context.Background()
	gw, err := gateway.New(ctx, cfg, gateway.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Handlers: map[string]hookgate.Sender{"audit": audit},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	mux := http.NewServeMux()
	mux.Handle("/webhooks/", gw.Ingress())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	status := postGitHub(srv.URL+"/webhooks/github/primary", "gh-secret", "d-1", []byte(`{"ref":"refs/heads/main"}`))
	fmt.Println("GitHub got", status)
	// A real program runs gw.Run(ctx) in the background instead.
	if _, err := gw.DispatchDue(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// GitHub got 204
	// audit: push from primary: {"ref":"refs/heads/main"}
}

// A gateway from a configuration file, whose secret comes from the
// environment. The Go handler is a Replier: it returns the destination's
// reply, whose status is kept with the attempt.
func ExampleNewFromFile() {
	dir, _ := os.MkdirTemp("", "hookgate-example")
	defer os.RemoveAll(dir)
	os.Setenv("EXAMPLE_GITHUB_SECRET", "gh-secret")
	file := filepath.Join(dir, "hookgate.yaml")
	os.WriteFile(file, []byte(`
storage: {url: "sqlite://`+filepath.Join(dir, "hookgate.db")+`"}
connections:
  - type: github
    name: primary
    signing_secret: "${EXAMPLE_GITHUB_SECRET}"
    routes:
      - handlers: [builds]
`), 0o600)

	builds := hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
		return hookgate.Reply{StatusCode: 202, ContentType: "text/plain", Body: []byte("build queued")}, false, nil
	})
	ctx := context.Background()
	gw, err := gateway.NewFromFile(ctx, file, gateway.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Handlers: map[string]hookgate.Sender{"builds": builds},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Ingress())
	defer srv.Close()

	postGitHub(srv.URL+"/webhooks/github/primary", "gh-secret", "d-1", []byte(`{}`))
	gw.DispatchDue(ctx)
	rs, _, _ := gw.Store().Receipts(ctx, hookgate.ReceiptFilter{Connection: "primary"})
	r, _ := gw.Store().Receipt(ctx, rs[0].ID)
	fmt.Println(r.Status, r.Attempts[0].Handler, r.Attempts[0].StatusCode)
	// Output:
	// acknowledged builds 202
}

// A Go handler gets the connection's retry policy: a failure worth retrying
// is tried again after its backoff, and every attempt is kept with the
// receipt. The clock is the test's, so the example needs no sleep.
func ExampleGateway_DispatchDue() {
	dir, _ := os.MkdirTemp("", "hookgate-example")
	defer os.RemoveAll(dir)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	cfg := config.Default()
	cfg.Storage.URL = "sqlite://" + filepath.Join(dir, "hookgate.db")
	cfg.Connections = []hookgate.Connection{{
		Type: "github", Name: "primary", SigningSecret: "gh-secret",
		Retry:  &hookgate.RetryPolicy{MaxAttempts: 3, InitialInterval: hookgate.Duration(time.Second)},
		Routes: []hookgate.Route{{Handlers: []string{"flaky"}}},
	}}
	calls := 0
	flaky := hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		calls++
		if calls == 1 {
			return 0, true, fmt.Errorf("database is restarting")
		}
		return 0, false, nil
	})
	ctx := context.Background()
	gw, err := gateway.New(ctx, cfg, gateway.Options{
		Logger:     slog.New(slog.DiscardHandler),
		Now:        func() time.Time { return now },
		Handlers:   map[string]hookgate.Sender{"flaky": flaky},
		NoDispatch: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Ingress())
	defer srv.Close()
	postGitHub(srv.URL+"/webhooks/github/primary", "gh-secret", "d-1", []byte(`{}`))

	status := func() hookgate.Status {
		rs, _, _ := gw.Store().Receipts(ctx, hookgate.ReceiptFilter{Connection: "primary"})
		return rs[0].Status
	}
	gw.DispatchDue(ctx)
	fmt.Println("after the first try:", status())
	now = now.Add(time.Minute) // past the backoff
	gw.DispatchDue(ctx)
	fmt.Println("after the retry:", status())
	// Output:
	// after the first try: failed
	// after the retry: acknowledged
}

// Handle registers a Go handler after the gateway is built, for connections
// registered at run time (through the admin API, or AddConnection).
func ExampleGateway_Handle() {
	dir, _ := os.MkdirTemp("", "hookgate-example")
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Storage.URL = "sqlite://" + filepath.Join(dir, "hookgate.db")
	ctx := context.Background()
	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	err = gw.Handle("deploys", hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		fmt.Println("deploy hook:", r.EventType)
		return 0, false, nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	err = gw.AddConnection(ctx, &hookgate.Connection{Type: "github", Name: "deploys", SigningSecret: "gh-secret",
		Routes: []hookgate.Route{{Handlers: []string{"deploys"}}}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(gw.Ingress())
	defer srv.Close()
	postGitHub(srv.URL+"/webhooks/github/deploys", "gh-secret", "d-1", []byte(`{}`))
	gw.DispatchDue(ctx)
	// Output:
	// deploy hook: push
}

// Let hookgate serve: Listen binds the public and admin listeners of the
// configuration (port 0 picks free ones), and Serve runs them with the
// dispatcher until the context ends.
func ExampleGateway_Serve() {
	dir, _ := os.MkdirTemp("", "hookgate-example")
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Storage.URL = "sqlite://" + filepath.Join(dir, "hookgate.db")
	cfg.Connections = []hookgate.Connection{{Type: "github", Name: "primary", SigningSecret: "gh-secret",
		Routes: []hookgate.Route{{Handlers: []string{"notify"}}}}}
	delivered := make(chan string, 1)
	notify := hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		delivered <- r.EventType
		return 0, false, nil
	})
	ctx, stop := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, gateway.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Handlers: map[string]hookgate.Sender{"notify": notify},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	ls, err := gw.Listen()
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ls) }()

	postGitHub("http://"+ls.Public.Addr().String()+"/webhooks/github/primary", "gh-secret", "d-1", []byte(`{}`))
	fmt.Println("delivered:", <-delivered)
	stop()
	fmt.Println("stopped:", <-served)
	// Output:
	// delivered: push
	// stopped: <nil>
}
