package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// adminRequest sends a raw request to the admin API: Host, Origin,
// Content-Type and Authorization exactly as given ("" leaves one out).
func (tg *testGateway) adminRequest(method, path, host, origin, contentType, auth, body string) (int, []byte) {
	tg.t.Helper()
	req, err := http.NewRequest(method, tg.admin.URL+path, strings.NewReader(body))
	if err != nil {
		tg.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range map[string]string{"Origin": origin, "Content-Type": contentType, "Authorization": auth} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	return do(tg.t, req)
}

func (tg *testGateway) adminPort() string {
	u, _ := url.Parse(tg.admin.URL)
	return u.Port()
}

// TestAdminRefusesCrossSiteAndRebinding: a web page in the operator's
// browser can send a "simple" cross-site POST (text/plain, any Origin) and,
// through DNS rebinding, any request with its own name in Host. The admin
// API answers neither, and writes nothing.
func TestAdminRefusesCrossSiteAndRebinding(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	port := tg.adminPort()
	create := `{"type":"github","name":"%s","signing_secret":"attacker-secret"}`
	for i, tc := range []struct {
		name, host, origin, ctype string
		want                      int
		code                      string
	}{
		{"text/plain from an evil origin", "", "http://evil.example", "text/plain", 403, hookgate.EForbidden},
		{"JSON from an evil origin", "", "http://evil.example", "application/json", 403, hookgate.EForbidden},
		{"same host, other port (another local page)", "", "http://127.0.0.1:1", "application/json", 403, hookgate.EForbidden},
		{"sandboxed page (Origin null)", "", "null", "application/json", 403, hookgate.EForbidden},
		{"rebinding: attacker's name in Host", "attacker.example:" + port, "", "application/json", 403, hookgate.EForbidden},
		{"rebinding, same origin by the browser's reckoning", "attacker.example:" + port, "http://attacker.example:" + port, "application/json", 403, hookgate.EForbidden},
		{"text/plain without Origin", "", "", "text/plain", 415, hookgate.EUnsupportedType},
		{"form without Origin", "", "", "application/x-www-form-urlencoded", 415, hookgate.EUnsupportedType},
		{"no content type", "", "", "", 415, hookgate.EUnsupportedType},
	} {
		body := fmt.Sprintf(create, fmt.Sprintf("xsite-%d", i))
		st, b := tg.adminRequest("POST", "/api/v1/connections", tc.host, tc.origin, tc.ctype, "", body)
		if st != tc.want {
			t.Errorf("%s: POST answered %d %s, want %d", tc.name, st, b, tc.want)
			continue
		}
		assertErrorBody(t, b, tc.code)
	}
	if n := len(tg.Connections()); n != 0 {
		t.Fatalf("refused requests registered %d connections", n)
	}
	// Reads through a rebound name are refused too: receipts carry bodies.
	if st, b := tg.adminRequest("GET", "/api/v1/receipts", "attacker.example:"+port, "", "", "", ""); st != 403 {
		t.Fatalf("GET with Host attacker.example answered %d %s, want 403", st, b)
	}
	// The admin's own origin, and JSON with a charset, are fine.
	st, b := tg.adminRequest("POST", "/api/v1/connections", "", "http://127.0.0.1:"+port, "application/json; charset=utf-8", "",
		`{"type":"github","name":"own","signing_secret":"s"}`)
	if st != 201 {
		t.Fatalf("same-origin JSON POST answered %d %s", st, b)
	}
}

// TestAdminAnswersLoopbackNames: the CLI, `hookgate tail` and Prometheus
// reach the admin API as 127.0.0.1, localhost or [::1]; a configured name
// (admin.allowed_hosts) works too. Bodiless writes need only the JSON type.
func TestAdminAnswersLoopbackNames(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "admin: {allowed_hosts: [hookgate.internal]}\n")
	port := tg.adminPort()
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LOCALHOST:" + port, "hookgate.internal:" + port, "hookgate.internal.:9999"} {
		for _, path := range []string{"/api/v1/connections", "/metrics", "/healthz", "/readyz", "/api/openapi.json"} {
			if st, b := tg.adminRequest("GET", path, host, "", "", "", ""); st != 200 {
				t.Errorf("GET %s with Host %s answered %d %s", path, host, st, b)
			}
		}
		origin := "http://" + host
		if st, b := tg.adminRequest("GET", "/api/v1/handlers", host, origin, "", "", ""); st != 200 {
			t.Errorf("GET with Host %s and its own Origin answered %d %s", host, st, b)
		}
	}
	if st, b := tg.adminRequest("GET", "/healthz", "other.internal:"+port, "", "", "", ""); st != 403 {
		t.Errorf("a name not in allowed_hosts answered %d %s", st, b)
	}

	// The event stream opens for the CLI's Host.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.admin.URL+"/api/v1/events", nil)
	req.Host = "localhost:" + port
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	cancel()
	resp.Body.Close()
	if resp.StatusCode != 200 || line != ": connected\n" {
		t.Fatalf("event stream: %d %q", resp.StatusCode, line)
	}

	// A bodiless write (replay) with the JSON type reaches its handler.
	if st, b := tg.adminRequest("POST", "/api/v1/receipts/does-not-exist/replay", "", "", "application/json", "", ""); st != 404 {
		t.Fatalf("bodiless JSON replay answered %d %s, want 404 from the handler", st, b)
	}
	if st, b := tg.adminRequest("POST", "/api/v1/receipts/does-not-exist/replay", "", "", "", "", ""); st != 415 {
		t.Fatalf("bodiless replay without a type answered %d %s, want 415", st, b)
	}
}

// TestAdminBearerSchemeAnyCase: RFC 9110 makes the auth scheme
// case-insensitive; "bearer" is what several clients send.
func TestAdminBearerSchemeAnyCase(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "admin: {token: adm-token}\n")
	for _, auth := range []string{"Bearer adm-token", "bearer adm-token", "BEARER adm-token", "Bearer  adm-token"} {
		if st, b := tg.adminRequest("GET", "/api/v1/connections", "", "", "", auth, ""); st != 200 {
			t.Errorf("Authorization %q answered %d %s", auth, st, b)
		}
	}
	for _, auth := range []string{"Bearer", "Bearer adm-token-x", "Basic adm-token", "Bearer-adm-token", "adm-token"} {
		st, b := tg.adminRequest("GET", "/api/v1/connections", "", "", "", auth, "")
		if st != 401 {
			t.Errorf("Authorization %q answered %d %s", auth, st, b)
			continue
		}
		assertErrorBody(t, b, hookgate.EAdminAuth)
	}
}

// TestAdminQueryStringMustParse: Go drops a query pair with ";" (or a bad
// escape) silently, so "?connection=a;b" meant "no filter" and listed every
// connection's receipts. An unparsable query is a 400.
func TestAdminQueryStringMustParse(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: a, auth: none, allow_unauthenticated: true}
  - {type: internal, name: b, auth: none, allow_unauthenticated: true}
`)
	for _, c := range []string{"a", "b"} {
		if st, b := tg.post("/webhooks/internal/"+c, http.Header{"X-Event-Type": {"t"}}, []byte(`{"n":1}`)); st >= 300 {
			t.Fatalf("deliver to %s: %d %s", c, st, b)
		}
	}
	var ok struct{ Receipts []map[string]any }
	if st := tg.api("GET", "/api/v1/receipts?connection=a", nil, &ok); st != 200 || len(ok.Receipts) != 1 {
		t.Fatalf("filter by connection: %d, %d receipts", st, len(ok.Receipts))
	}
	for _, q := range []string{"connection=a;b", "connection=a;", "status=dead;connection=a", "connection=%zz"} {
		var out map[string]any
		st := tg.api("GET", "/api/v1/receipts?"+q, nil, &out)
		if st != 400 || out["error"] != hookgate.EInvalid {
			t.Errorf("?%s answered %d %v, want 400 %s", q, st, out, hookgate.EInvalid)
		}
	}
}

// TestAdminRefusalsLogBounded: each refusal is worth knowing about, but a
// page can send them in a loop; the log gets a few lines with the running
// count, not one per request.
func TestAdminRefusalsLogBounded(t *testing.T) {
	t.Parallel()
	cfg, _, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = sqliteURL(t)
	logs := &syncBuffer{}
	gw, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.AdminHandler())
	defer srv.Close()
	const n = 200
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/receipts", nil)
		req.Host = "attacker.example"
		if st, _ := do(t, req); st != 403 {
			t.Fatalf("request %d answered %d", i, st)
		}
	}
	// The first three, then one a minute: 200 requests take far less than
	// the two minutes that would allow a fifth line.
	lines := strings.Count(logs.String(), "admin API refused a request")
	if lines < 1 || lines > 4 {
		t.Fatalf("%d refusals wrote %d log lines:\n%s", n, lines, logs)
	}
	if !strings.Contains(logs.String(), "attacker.example") {
		t.Fatalf("the log does not say what was refused:\n%s", logs)
	}
}

// TestAdminInvalidJSONWording: a request body that is not JSON is worded as
// ingress words a delivery that is not JSON.
func TestAdminInvalidJSONWording(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	for _, body := range []string{`{"type":`, `not json`, ``} {
		req, _ := http.NewRequest("POST", tg.admin.URL+"/api/v1/connections", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "request body is not valid JSON") {
			t.Errorf("%q: %d %s", body, resp.StatusCode, b)
		}
	}
}
