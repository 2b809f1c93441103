package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store"
)

// syncGW is a served gateway (dispatcher running) for the sync route tests.
type syncGW struct {
	*Gateway
	t     testing.TB
	base  string // public listener
	admin string
}

func newSyncGateway(t testing.TB, storage func(testing.TB) string, yaml string, handlers map[string]hookgate.Sender) *syncGW {
	t.Helper()
	cfg, _, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Storage.URL = storage(t)
	if store.DefaultKeyFile(cfg.Storage.URL) == "" {
		cfg.Storage.SecretKeyFile = filepath.Join(t.TempDir(), "hookgate.key")
	}
	cfg.Dispatch.PollInterval = hookgate.Duration(20 * time.Millisecond)
	gw, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Handlers: handlers})
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
	return &syncGW{Gateway: gw, t: t, base: "http://" + ls.Public.Addr().String(), admin: "http://" + ls.Admin.Addr().String()}
}

func (g *syncGW) send(method, path, auth, body string) (*http.Response, string) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitFor polls receipt id until it has status.
func (g *syncGW) waitFor(id string, status hookgate.Status) *hookgate.Receipt {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := g.Store().Receipt(context.Background(), id)
		if err == nil && r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("receipt %s: %+v, %v; want %s", id, r, err, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replyServer is an http destination answering TwiML, as a Twilio
// handler would.
func replyServer(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "<Response><Message>got %d bytes</Message></Response>", len(b))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSyncRouteAnswersTheHandlersReply: a sync route answers with the reply
// of its reply_from handler — an http destination's TwiML, a Go handler's
// body — with its content type, after the durable commit; the receipt is
// acknowledged, and the reply is kept with the attempt (admin API).
func TestSyncRouteAnswersTheHandlersReply(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		srv := replyServer(t)
		gw := newSyncGateway(t, storage, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: twiml, type: http, url: %q}
connections:
  - type: internal
    name: sms
    auth: api_key
    api_key: {value: key-1}
    routes:
      - {mode: sync, handlers: [audit, twiml], reply_from: twiml}
  - type: internal
    name: cmd
    auth: api_key
    api_key: {value: key-2}
    routes:
      - {mode: sync, sync_timeout: 2s, handlers: [command]}
`, srv.URL), map[string]hookgate.Sender{
			"audit": hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { return 0, false, nil }),
			"command": hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
				return hookgate.Reply{StatusCode: 202, ContentType: "application/json", Body: []byte(`{"text":"done"}`)}, false, nil
			}),
		})
		resp, body := gw.send("POST", "/webhooks/internal/sms", "key-1", `{"Body":"hello"}`)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" ||
			body != "<Response><Message>got 16 bytes</Message></Response>" {
			t.Fatalf("sync answer %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		id := resp.Header.Get("Hookgate-Receipt-Id")
		got := gw.waitFor(id, hookgate.StatusAcknowledged)
		if len(got.Attempts) != 2 || got.Attempts[1].Reply == nil || string(got.Attempts[1].Reply.Body) != body {
			t.Fatalf("attempts %+v", got.Attempts)
		}
		// The admin API shows the reply with its attempt.
		aresp, err := http.Get(gw.admin + "/api/v1/receipts/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var rj struct {
			Attempts []struct {
				Handler string `json:"handler"`
				Reply   *struct {
					ContentType string `json:"content_type"`
					Body        string `json:"body"`
				} `json:"reply"`
			} `json:"attempts"`
		}
		json.NewDecoder(aresp.Body).Decode(&rj)
		aresp.Body.Close()
		if len(rj.Attempts) != 2 || rj.Attempts[0].Reply != nil || rj.Attempts[1].Reply == nil ||
			rj.Attempts[1].Reply.Body != body || rj.Attempts[1].Reply.ContentType != "text/xml; charset=utf-8" {
			t.Fatalf("admin attempts %+v", rj.Attempts)
		}

		resp, body = gw.send("POST", "/webhooks/internal/cmd", "key-2", `{"command":"/deploy"}`)
		if resp.StatusCode != 202 || resp.Header.Get("Content-Type") != "application/json" || body != `{"text":"done"}` {
			t.Fatalf("Go handler's answer %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

// TestSyncTimeoutFallsBack: a handler slower than sync_timeout gets the
// connection's usual answer, in about sync_timeout, and its receipt is
// acknowledged later, when the handler ends, with its reply kept.
func TestSyncTimeoutFallsBack(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		var calls atomic.Int64
		gw := newSyncGateway(t, storage, `
connections:
  - type: internal
    name: slow
    auth: api_key
    api_key: {value: key-1}
    response: {status: 200, body: json}
    routes:
      - {mode: sync, sync_timeout: 100ms, handlers: [slow]}
`, map[string]hookgate.Sender{"slow": hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
			calls.Add(1)
			time.Sleep(700 * time.Millisecond)
			return hookgate.Reply{StatusCode: 200, Body: []byte("late result")}, false, nil
		})})
		start := time.Now()
		resp, body := gw.send("POST", "/webhooks/internal/slow", "key-1", `{"n":1}`)
		if el := time.Since(start); el > 600*time.Millisecond {
			t.Fatalf("answered after %v, past sync_timeout", el)
		}
		var usual struct {
			Success bool
			Data    struct {
				ReceiptID string `json:"receipt_id"`
			}
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &usual) != nil || !usual.Success {
			t.Fatalf("fallback answer %d %s, want the connection's response", resp.StatusCode, body)
		}
		got := gw.waitFor(usual.Data.ReceiptID, hookgate.StatusAcknowledged)
		if calls.Load() != 1 || string(got.Attempts[0].Reply.Body) != "late result" {
			t.Fatalf("%d calls, attempts %+v", calls.Load(), got.Attempts)
		}
	})
}

// TestSyncFailureRetried: a failing handler gets the usual answer (204),
// and the receipt carries on with its retries until the handler succeeds.
func TestSyncFailureRetried(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 503, 200)
		gw := newSyncGateway(t, storage, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: flaky, type: http, url: %q}
connections:
  - type: internal
    name: flaky
    auth: api_key
    api_key: {value: key-1}
    retry: {initial_interval: 50ms, max_interval: 100ms}
    routes:
      - {mode: sync, handlers: [flaky]}
`, s.srv.URL), nil)
		resp, body := gw.send("POST", "/webhooks/internal/flaky", "key-1", `{"n":1}`)
		if resp.StatusCode != 204 || body != "" {
			t.Fatalf("answer after a failed handler %d %q, want the usual 204", resp.StatusCode, body)
		}
		rs, _, _ := gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: "flaky"})
		got := gw.waitFor(rs[0].ID, hookgate.StatusAcknowledged)
		if s.count() != 2 || len(got.Attempts) != 2 || got.Attempts[0].Outcome != hookgate.OutcomeFailure ||
			string(got.Attempts[0].Reply.Body) != "answer 503" {
			t.Fatalf("%d deliveries, attempts %+v", s.count(), got.Attempts)
		}
	})
}

// TestSyncBusyAnswersAsAsync: with sync work at limits.sync_concurrency,
// a sync route answers at once as an async one (counted), and an async
// connection keeps being served meanwhile.
func TestSyncBusyAnswersAsAsync(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var calls atomic.Int64
	gw := newSyncGateway(t, sqliteURL, `
limits: {sync_concurrency: 2}
connections:
  - type: internal
    name: held
    auth: api_key
    api_key: {value: key-1}
    routes:
      - {mode: sync, sync_timeout: 20s, handlers: [hang]}
  - type: internal
    name: plain
    auth: api_key
    api_key: {value: key-2}
    routes:
      - {handlers: [hang]}
`, map[string]hookgate.Sender{"hang": hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
		if calls.Add(1) <= 2 {
			<-release
		}
		return 200, false, nil
	})})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := gw.send("POST", "/webhooks/internal/held", "key-1", fmt.Sprintf(`{"n":%d}`, i))
			if resp.StatusCode != 200 {
				t.Errorf("held sync request answered %d", resp.StatusCode)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	resp, _ := gw.send("POST", "/webhooks/internal/held", "key-1", `{"n":"busy"}`)
	if resp.StatusCode != 204 || time.Since(start) > 5*time.Second {
		t.Fatalf("sync route at its bound answered %d after %v, want the async 204 at once", resp.StatusCode, time.Since(start))
	}
	for i := range 20 {
		if resp, _ := gw.send("POST", "/webhooks/internal/plain", "key-2", fmt.Sprintf(`{"a":%d}`, i)); resp.StatusCode != 204 {
			t.Fatalf("async connection answered %d while sync work was at its bound", resp.StatusCode)
		}
	}
	m, _ := http.Get(gw.admin + "/metrics")
	b, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !strings.Contains(string(b), `hookgate_sync_requests_total{connection="held",outcome="busy"} 1`) {
		t.Errorf("busy answer not counted:\n%s", grepLines(string(b), "hookgate_sync"))
	}
	once.Do(func() { close(release) })
	wg.Wait()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestJobResultPoll: the sales-prospecting endpoints share the seed's job
// path (status_path: /job/{id}); the sender polls it with its API key and
// reads the result its handler answered. A bad or missing key is 401 for
// any id; another connection's receipt is 404, like a missing one.
func TestJobResultPoll(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		gw := newSyncGateway(t, storage, `
connections:
  - type: internal
    name: sales-summary
    path: /webhooks/sales-prospecting/summary
    auth: api_key
    api_key: {value: key-1}
    status_path: /job/{id}
    response: {status: 200, body: json}
    routes:
      - {handlers: [summarize]}
  - type: internal
    name: sales-dust
    path: /webhooks/sales-prospecting/dust
    auth: api_key
    api_key: {value: key-2}
    status_path: /job/{id}
    response: {status: 200, body: json}
    routes:
      - {handlers: [summarize]}
`, map[string]hookgate.Sender{"summarize": hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
			return hookgate.Reply{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"summary":"acme buys"}`)}, false, nil
		})})
		_, body := gw.send("POST", "/webhooks/sales-prospecting/summary", "key-1", `{"account_id":"001XYZ"}`)
		var ans struct {
			Data struct {
				ReceiptID string `json:"receipt_id"`
			}
		}
		json.Unmarshal([]byte(body), &ans)
		id := ans.Data.ReceiptID
		gw.waitFor(id, hookgate.StatusAcknowledged)

		resp, body := gw.send("GET", "/webhooks/sales-prospecting/job/"+id, "key-1", "")
		var poll struct {
			ID      string
			Status  string
			Replies []struct {
				Handler     string
				StatusCode  int    `json:"status_code"`
				ContentType string `json:"content_type"`
				Body        string
				Outcome     string
			}
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &poll) != nil || poll.ID != id || poll.Status != "acknowledged" ||
			len(poll.Replies) != 1 || poll.Replies[0].Body != `{"summary":"acme buys"}` || poll.Replies[0].Handler != "summarize" ||
			poll.Replies[0].ContentType != "application/json" || poll.Replies[0].StatusCode != 200 {
			t.Fatalf("poll %d %s", resp.StatusCode, body)
		}
		// The built-in path answers the same.
		if resp, b2 := gw.send("GET", "/webhooks/sales-prospecting/summary/receipts/"+id, "key-1", ""); resp.StatusCode != 200 || b2 != body {
			t.Fatalf("receipts path %d %s", resp.StatusCode, b2)
		}
		for _, c := range []struct {
			path, key string
			want      int
		}{
			{"/webhooks/sales-prospecting/job/" + id, "", 401},
			{"/webhooks/sales-prospecting/job/" + id, "wrong", 401},
			{"/webhooks/sales-prospecting/job/no-such-receipt", "wrong", 401},
			{"/webhooks/sales-prospecting/job/" + id, "key-2", 404}, // dust's key: summary's receipt
			{"/webhooks/sales-prospecting/job/no-such-receipt", "key-2", 404},
			{"/webhooks/sales-prospecting/job/" + strings.Repeat("a", 500), "key-1", 404},
			{"/webhooks/sales-prospecting/dust/receipts/" + id, "key-2", 404},
		} {
			resp, b := gw.send("GET", c.path, c.key, "")
			if resp.StatusCode != c.want {
				t.Errorf("GET %s with %q = %d %s, want %d", c.path, c.key, resp.StatusCode, b, c.want)
				continue
			}
			var e struct{ Error, Message string }
			if json.Unmarshal([]byte(b), &e) != nil || e.Error == "" || strings.Contains(b, id) {
				t.Errorf("GET %s: error body %s", c.path, b)
			}
		}
	})
}

// TestSyncConfigChecks: what compile refuses of sync routes and status_path.
func TestSyncConfigChecks(t *testing.T) {
	t.Parallel()
	base := `
handlers: [{name: h, type: log}, {name: g, type: log}]
connections:
  - type: %s
    name: c
    %s
    routes:
      - %s
`
	for _, c := range []struct{ typ, conn, route, want string }{
		{"internal", "auth: api_key\n    api_key: {value: k}", "{mode: later, handlers: [h]}", `mode "later"`},
		{"internal", "auth: api_key\n    api_key: {value: k}", "{mode: sync, reply_from: x, handlers: [h]}", `reply_from "x"`},
		{"internal", "auth: api_key\n    api_key: {value: k}", "{mode: sync, sync_timeout: 31s, handlers: [h]}", "sync_timeout 31s"},
		{"internal", "auth: api_key\n    api_key: {value: k}", "{sync_timeout: 1s, handlers: [h]}", "mode: sync only"},
		{"slack", "signing_secret: s", "{mode: sync, sync_timeout: 3s, handlers: [h]}", "2.5s for a slack connection"},
		{"github", "signing_secret: s\n    status_path: /job/{id}", "{handlers: [h]}", "status_path needs a credential"},
		{"internal", "auth: api_key\n    api_key: {value: k}\n    status_path: /job/{x}", "{handlers: [h]}", "must be a path ending in /{id}"},
	} {
		err := checkYAML(t, fmt.Sprintf(base, c.typ, c.conn, c.route))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s / %s: %v, want an error with %q", c.conn, c.route, err, c.want)
		}
	}
	ok := fmt.Sprintf(base, "slack", "signing_secret: s", "{mode: sync, sync_timeout: 2500ms, reply_from: g, handlers: [h, g]}")
	if err := checkYAML(t, ok); err != nil {
		t.Errorf("valid sync route refused: %v", err)
	}
}
