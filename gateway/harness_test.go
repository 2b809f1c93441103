package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testGateway is a Gateway on a temp-file SQLite (or PostgreSQL when
// storageURL says so) with its ingress and admin API on loopback servers.
type testGateway struct {
	*Gateway
	t      testing.TB
	clock  *clock
	ingest *httptest.Server
	admin  *httptest.Server
}

func newTestGateway(t testing.TB, yaml string) *testGateway {
	t.Helper()
	return newTestGatewayOn(t, yaml, sqliteURL(t))
}

func sqliteURL(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db") }

// backends runs a test on SQLite and, when HOOKGATE_TEST_POSTGRES_URL is
// set, on PostgreSQL: storage(t) gives the storage URL of the run. A run
// that never asks storage for its URL fails, so a "postgres" subtest cannot
// quietly run on SQLite.
func backends(t *testing.T, test func(t *testing.T, storage func(testing.TB) string)) {
	run := func(name string, open func(testing.TB) string) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opened atomic.Bool
			test(t, func(tb testing.TB) string { tb.Helper(); opened.Store(true); return open(tb) })
			if !opened.Load() {
				t.Fatalf("the %s run never opened its storage: pass storage to the gateway it tests", name)
			}
		})
	}
	run("sqlite", sqliteURL)
	run("postgres", storetest.PostgresURL)
}

// newTestGatewayWith is newTestGateway on the storage of a backends run.
func newTestGatewayWith(t testing.TB, storage func(testing.TB) string, yaml string) *testGateway {
	t.Helper()
	return newTestGatewayOn(t, yaml, storage(t))
}

func newTestGatewayOn(t testing.TB, yaml, storageURL string) *testGateway {
	t.Helper()
	cfg, _, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = storageURL
	if store.DefaultKeyFile(storageURL) == "" && cfg.Storage.SecretKeyFile == "" {
		// PostgreSQL has no default key file: each test gets its own.
		cfg.Storage.SecretKeyFile = filepath.Join(t.TempDir(), "hookgate.key")
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("HOOKGATE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := New(context.Background(), cfg, Options{Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Gateway: gw, t: t, clock: clk}
	tg.ingest = httptest.NewServer(gw.Ingress())
	tg.admin = httptest.NewServer(gw.AdminHandler())
	t.Cleanup(func() {
		tg.ingest.Close()
		tg.admin.Close()
		gw.Close()
	})
	return tg
}

// post sends body to path with headers and returns status and body.
func (tg *testGateway) post(path string, h http.Header, body []byte) (int, []byte) {
	tg.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tg.ingest.URL+path, bytes.NewReader(body))
	if err != nil {
		tg.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(tg.t, req)
}

func do(t testing.TB, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// api calls the admin API and decodes the JSON answer.
func (tg *testGateway) api(method, path string, in any, out any) int {
	tg.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tg.admin.URL+path, body)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json") // as the CLI sends it
	}
	status, b := do(tg.t, req)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			tg.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return status
}

// receipts lists receipts of a connection (all statuses), newest first.
func (tg *testGateway) receipts(conn string) []*hookgate.Receipt {
	tg.t.Helper()
	rs, _, err := tg.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: conn, Limit: 500})
	if err != nil {
		tg.t.Fatal(err)
	}
	return rs
}

// drain runs the dispatcher until nothing is due now.
func (tg *testGateway) drain() {
	tg.t.Helper()
	for i := 0; i < 100; i++ {
		n, err := tg.Dispatcher().RunOnce(context.Background())
		if err != nil {
			tg.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	tg.t.Fatal("dispatcher never drained")
}

func assertErrorBody(t testing.TB, body []byte, code string) {
	t.Helper()
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	if e.Error != code || e.Message == "" {
		t.Fatalf("error body = %s, want code %q with a message", body, code)
	}
}

func assertNoSecret(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(string(body), s) {
			t.Fatalf("answer leaks a secret: %s", body)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// serveGateway builds a gateway from cfg and serves it on the listeners of
// cfg until the test ends, as `hookgate serve` does.
func serveGateway(t *testing.T, cfg *config.Config, opts Options) (*Gateway, *Listeners) {
	t.Helper()
	gw, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	ls, err := gw.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ls) }()
	t.Cleanup(func() { stop(); <-served })
	return gw, ls
}
