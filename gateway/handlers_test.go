package gateway

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store/storetest"
)

// svcConnection is a run-time connection at /webhooks/internal/svc that
// tg.deliver posts to, routing every event to handlers.
func svcConnection(handlers ...string) map[string]any {
	return map[string]any{"type": "internal", "name": "svc", "auth": "secret", "signature_header": "X-Token",
		"signing_secret": "tok", "nonce_header": "X-Nonce", "event_type": "body:type",
		"retry":  map[string]any{"max_attempts": 3},
		"routes": []map[string]any{{"handlers": handlers}}}
}

func sinkPort(s *sink) string {
	u, _ := url.Parse(s.srv.URL)
	return u.Port()
}

// TestRuntimeHandlerLifecycle: a handler made through the API is stored
// with its secret sealed and never shown, delivers like a file handler,
// changes, refuses removal while a route uses it, and survives a restart.
func TestRuntimeHandlerLifecycle(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 200)
		storageURL := storage(t)
		yaml := fmt.Sprintf(`
allowed_destinations: ["127.0.0.1/32", "hooks.internal.example"]
storage: {secret_key_file: %q}
handlers:
  - {name: file-h, type: http, url: "http://192.0.2.1/", signing_secret: file-secret}
`, filepath.Join(t.TempDir(), "hookgate.key"))
		tg := newTestGatewayOn(t, yaml, storageURL)
		const secret, token = "runtime-signing-secret", "dest-bearer-token"
		var created map[string]any
		st := tg.api("POST", "/api/v1/handlers", map[string]any{"name": "notify", "type": "http", "url": s.srv.URL + "/hook",
			"signing_secret": secret, "headers": map[string]string{"Authorization": "Bearer " + token}, "timeout": "2s"}, &created)
		if st != 201 {
			t.Fatalf("create = %d %v", st, created)
		}
		assertNoSecret(t, []byte(toJSON(created)), secret, token)
		if sec, _ := created["signing_secret"].(map[string]any); sec["id"] != hookgate.SecretID(secret) || sec["fingerprint"] == "" {
			t.Errorf("signing_secret view = %v", created["signing_secret"])
		}
		if created["source"] != "api" || created["read_only"] != false {
			t.Errorf("created = %v", created)
		}
		var one map[string]any
		if st := tg.api("GET", "/api/v1/handlers/notify", nil, &one); st != 200 || one["url"] != s.srv.URL+"/hook" {
			t.Fatalf("get = %d %v", st, one)
		}
		assertNoSecret(t, []byte(toJSON(one)), secret, token)
		var list struct{ Handlers []map[string]any }
		tg.api("GET", "/api/v1/handlers", nil, &list)
		sources := map[string]any{}
		for _, h := range list.Handlers {
			sources[h["name"].(string)] = h["source"]
		}
		if sources["notify"] != "api" || sources["file-h"] != "file" || sources["log"] != "builtin" {
			t.Errorf("handler sources = %v", sources)
		}

		// It delivers, signed with its own secret, with its headers.
		if st := tg.api("POST", "/api/v1/connections", svcConnection("notify"), nil); st != 201 {
			t.Fatalf("connection = %d", st)
		}
		r := tg.deliver("n1", `{"type":"order.paid"}`)
		tg.drain()
		if got := tg.receipt(r.ID); got.Status != hookgate.StatusAcknowledged || s.count() != 1 {
			t.Fatalf("status %s, sink got %d", got.Status, s.count())
		}
		if h := s.got[0].Header; h.Get("Authorization") != "Bearer "+token || h.Get("Webhook-Signature") == "" {
			t.Errorf("forwarded headers %v", h)
		}

		// PATCH keeps what it is not given (the secret among them).
		var patched map[string]any
		if st := tg.api("PATCH", "/api/v1/handlers/notify", map[string]any{"timeout": "3s"}, &patched); st != 200 || patched["timeout"] != "3s" {
			t.Fatalf("patch = %d %v", st, patched)
		}
		if sec, _ := patched["signing_secret"].(map[string]any); sec["id"] != hookgate.SecretID(secret) {
			t.Errorf("patch lost the secret: %v", patched)
		}

		// Error paths: status and JSON error body.
		for _, tc := range []struct {
			method, path string
			body         any
			status       int
			code         string
		}{
			{"POST", "/api/v1/handlers", map[string]any{"name": "notify", "type": "http", "url": s.srv.URL, "signing_secret": "x"}, 409, hookgate.EConflict},
			{"POST", "/api/v1/handlers", map[string]any{"name": "file-h", "type": "http", "url": s.srv.URL, "signing_secret": "x"}, 403, hookgate.EReadOnly},
			{"POST", "/api/v1/handlers", map[string]any{"name": "log", "type": "http", "url": s.srv.URL, "signing_secret": "x"}, 403, hookgate.EReadOnly},
			{"POST", "/api/v1/handlers", map[string]any{"name": "run", "type": "exec", "command": []string{"/bin/true"}}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "lg", "type": "log"}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "far", "type": "http", "url": "http://10.0.0.1/", "signing_secret": "x"}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "meta", "type": "http", "url": "http://169.254.169.254/", "signing_secret": "x"}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "named", "type": "http", "url": "http://evil.example/", "signing_secret": "x"}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "unsigned", "type": "http", "url": s.srv.URL}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "bad name!", "type": "http", "url": s.srv.URL, "signing_secret": "x"}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"name": "x", "type": "http", "url": s.srv.URL, "signing_secret": "x", "bogus": 1}, 400, hookgate.EInvalid},
			{"POST", "/api/v1/handlers", map[string]any{"type": "http"}, 400, hookgate.EInvalid},
			{"PATCH", "/api/v1/handlers/notify", map[string]any{"url": "http://10.0.0.1/"}, 400, hookgate.EInvalid},
			{"PATCH", "/api/v1/handlers/notify", map[string]any{"name": "renamed"}, 400, hookgate.EInvalid},
			{"PATCH", "/api/v1/handlers/file-h", map[string]any{"timeout": "1s"}, 403, hookgate.EReadOnly},
			{"PATCH", "/api/v1/handlers/ghost", map[string]any{"timeout": "1s"}, 404, hookgate.ENotFound},
			{"GET", "/api/v1/handlers/ghost", nil, 404, hookgate.ENotFound},
			{"DELETE", "/api/v1/handlers/notify", nil, 409, hookgate.EConflict},
			{"DELETE", "/api/v1/handlers/file-h", nil, 403, hookgate.EReadOnly},
			{"DELETE", "/api/v1/handlers/log", nil, 403, hookgate.EReadOnly},
			{"DELETE", "/api/v1/handlers/ghost", nil, 404, hookgate.ENotFound},
		} {
			var e map[string]any
			st := tg.api(tc.method, tc.path, tc.body, &e)
			if st != tc.status || e["error"] != tc.code || e["message"] == "" {
				t.Errorf("%s %s %v = %d %v, want %d %s", tc.method, tc.path, tc.body, st, e, tc.status, tc.code)
			}
			if tc.method == "DELETE" && tc.status == 409 && !strings.Contains(fmt.Sprint(e["message"]), "internal/svc") {
				t.Errorf("in-use refusal does not name the connection: %v", e["message"])
			}
		}

		// It survives a restart.
		tg.Close()
		tg2 := newTestGatewayOn(t, yaml, storageURL)
		h, source, err := tg2.Handler("notify")
		if err != nil || source != sourceAPI || h.SigningSecret != secret || h.Timeout != hookgate.Duration(3e9) {
			t.Fatalf("after restart: %+v %s %v", h, source, err)
		}
		r = tg2.deliver("n2", `{"type":"order.paid"}`)
		tg2.drain()
		if got := tg2.receipt(r.ID); got.Status != hookgate.StatusAcknowledged || s.count() != 2 {
			t.Fatalf("after restart: status %s, sink got %d", got.Status, s.count())
		}
		// Once no route uses it, it can go.
		if st := tg2.api("DELETE", "/api/v1/connections/internal/svc", nil, nil); st != 204 {
			t.Fatalf("delete connection = %d", st)
		}
		if st := tg2.api("DELETE", "/api/v1/handlers/notify", nil, nil); st != 204 {
			t.Fatalf("delete = %d", st)
		}
		if st := tg2.api("GET", "/api/v1/handlers/notify", nil, nil); st != 404 {
			t.Fatalf("get after delete = %d", st)
		}
	})
}

// TestRuntimeHandlersNeedAllowedDestinations: with no allowed_destinations
// no http handler can be made at run time.
func TestRuntimeHandlersNeedAllowedDestinations(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "signing_secret: "+hookgateSecret+"\n")
	var e map[string]any
	if st := tg.api("POST", "/api/v1/handlers", map[string]any{"name": "n", "type": "http", "url": "http://127.0.0.1:9/"}, &e); st != 400 ||
		!strings.Contains(fmt.Sprint(e["message"]), "allowed_destinations is empty") {
		t.Fatalf("create = %d %v", st, e)
	}
}

// TestRuntimeHandlerRebindingRefused: a listed name that resolves to an
// address outside the list (localhost → 127.0.0.1, while only 10.0.0.0/8
// is listed) passes creation but is refused when connecting: the receipt
// goes to dead at the first attempt with the reason, and the destination
// never hears of it. The same URL in a file handler delivers.
func TestRuntimeHandlerRebindingRefused(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	port := sinkPort(s)
	tg := newTestGateway(t, fmt.Sprintf(`
signing_secret: %s
allowed_destinations: ["10.0.0.0/8", "localhost"]
handlers:
  - {name: from-file, type: http, url: "http://localhost:%s/file"}
`, hookgateSecret, port))
	if st := tg.api("POST", "/api/v1/handlers", map[string]any{"name": "rebound", "type": "http", "url": "http://localhost:" + port + "/hook"}, nil); st != 201 {
		t.Fatalf("create = %d", st)
	}
	if st := tg.api("POST", "/api/v1/connections", svcConnection("rebound"), nil); st != 201 {
		t.Fatalf("connection = %d", st)
	}
	r := tg.deliver("n1", `{"type":"order.paid"}`)
	tg.drain()
	got := tg.receipt(r.ID)
	if got.Status != hookgate.StatusDead || len(got.Attempts) != 1 || !strings.Contains(got.Attempts[0].Error, "allowed_destinations") {
		t.Fatalf("status %s attempts %+v, want dead after one attempt naming allowed_destinations", got.Status, got.Attempts)
	}
	if s.count() != 0 {
		t.Fatalf("the forbidden destination got %d requests", s.count())
	}
	// Handlers of the file may point anywhere.
	var patched map[string]any
	if st := tg.api("PATCH", "/api/v1/connections/internal/svc", map[string]any{"routes": []map[string]any{{"handlers": []string{"from-file"}}}}, &patched); st != 200 {
		t.Fatalf("patch = %d %v", st, patched)
	}
	if _, err := tg.Replay(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	tg.drain()
	if got := tg.receipt(r.ID); got.Status != hookgate.StatusAcknowledged || s.count() != 1 {
		t.Fatalf("file handler: status %s, sink got %d", got.Status, s.count())
	}
}

// TestBuiltinLogHandler: a server without a config file has a log handler,
// so a connection registered with it is dispatched, not filtered.
func TestBuiltinLogHandler(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	var e map[string]any
	if st := tg.api("POST", "/api/v1/connections", svcConnection(LogHandler), &e); st != 201 {
		t.Fatalf("connection with handler log = %d %v", st, e)
	}
	r := tg.deliver("n1", `{"type":"order.paid"}`)
	tg.drain()
	if got := tg.receipt(r.ID); got.Status != hookgate.StatusAcknowledged || len(got.Attempts) != 1 || got.Attempts[0].Handler != "log" {
		t.Fatalf("status %s attempts %+v", got.Status, got.Attempts)
	}
	// A file handler named log takes its place.
	s := newSink(t, 200)
	tg = newTestGateway(t, fmt.Sprintf("signing_secret: %s\nhandlers:\n  - {name: log, type: http, url: %q}\n", hookgateSecret, s.srv.URL))
	if h, source, err := tg.Handler("log"); err != nil || source != sourceFile || h.Type != "http" {
		t.Fatalf("file log handler: %+v %s %v", h, source, err)
	}
}

// TestStoredHandlersOnEveryInstance: two instances share a PostgreSQL
// database; a handler one makes, changes or removes reaches the other.
func TestStoredHandlersOnEveryInstance(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	yaml := fmt.Sprintf("signing_secret: %s\nallowed_destinations: [\"127.0.0.1/32\"]\nstorage: {secret_key_file: %q}\n",
		hookgateSecret, filepath.Join(t.TempDir(), "shared.key"))
	a := newTestGatewayOn(t, yaml, url)
	b := newTestGatewayOn(t, yaml, url)
	if st := a.api("POST", "/api/v1/handlers", map[string]any{"name": "shared", "type": "http", "url": "http://127.0.0.1:9/a"}, nil); st != 201 {
		t.Fatalf("create on a = %d", st)
	}
	if _, _, err := b.Handler("shared"); err == nil {
		t.Fatal("b saw the handler before refreshing")
	}
	if err := b.refreshStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, _, err := b.Handler("shared"); err != nil || h.URL != "http://127.0.0.1:9/a" {
		t.Fatalf("b after refresh: %+v %v", h, err)
	}
	if st := a.api("PATCH", "/api/v1/handlers/shared", map[string]any{"url": "http://127.0.0.1:9/b"}, nil); st != 200 {
		t.Fatalf("patch on a = %d", st)
	}
	if st := a.api("DELETE", "/api/v1/handlers/shared", nil, nil); st != 204 {
		t.Fatalf("delete on a = %d", st)
	}
	if err := b.refreshStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Handler("shared"); err == nil {
		t.Fatal("b still has the handler a removed")
	}
}

// TestAllowedDestinationsReloaded: a bad list is refused by config check,
// and a reload puts a new list in force for the next handler.
func TestAllowedDestinationsReloaded(t *testing.T) {
	t.Parallel()
	if err := checkYAML(t, "allowed_destinations: [\"10.0.0.0/33\"]\n"); err == nil || !strings.Contains(err.Error(), "allowed_destinations") {
		t.Fatalf("config check of a bad list: %v", err)
	}
	tg := newTestGateway(t, "signing_secret: "+hookgateSecret+"\nallowed_destinations: [\"10.0.0.0/8\"]\n")
	h := map[string]any{"name": "n", "type": "http", "url": "http://192.168.0.9/"}
	if st := tg.api("POST", "/api/v1/handlers", h, nil); st != 400 {
		t.Fatalf("outside the list = %d", st)
	}
	next, _, err := config.Parse([]byte("signing_secret: " + hookgateSecret + "\nallowed_destinations: [\"192.168.0.0/16\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	next.Storage = tg.cfg.Storage
	if _, err := tg.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if st := tg.api("POST", "/api/v1/handlers", h, nil); st != 201 {
		t.Fatalf("after reload = %d", st)
	}
}
