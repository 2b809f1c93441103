package dashboard_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

const (
	testToken  = "admin-token-for-tests"
	testSecret = "whsec_github_test"
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

// env is a real gateway (SQLite in a temp dir, no dispatcher) with its
// ingress and admin listener on loopback, and a browser-like client that
// does not follow redirects.
type env struct {
	t      *testing.T
	gw     *gateway.Gateway
	clock  *clock
	admin  *httptest.Server
	ingest *httptest.Server
	client *http.Client
	cookie *http.Cookie
}

func newEnv(t *testing.T, token string) *env {
	t.Helper()
	yaml := fmt.Sprintf(`
unsigned_forwarding: true
admin: {token: %q}
connections:
  - type: github
    name: primary
    signing_secret: %q
    routes:
      - handlers: [sink]
  - type: github
    name: other
    signing_secret: %q
handlers:
  - name: sink
    type: http
    url: http://127.0.0.1:9/never
`, token, testSecret, testSecret)
	cfg, _, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db")
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, gw: gw, clock: clk, admin: httptest.NewServer(gw.AdminHandler()),
		ingest: httptest.NewServer(gw.Ingress())}
	e.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		e.admin.Close()
		e.ingest.Close()
		gw.Close()
	})
	return e
}

// request sends a request to the admin listener with the session cookie
// (when logged in) and the given headers; it returns status, headers and
// body.
func (e *env) request(method, path, body string, hdr map[string]string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.admin.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if e.cookie != nil {
		req.AddCookie(e.cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *env) get(path string) (int, http.Header, string) {
	e.t.Helper()
	return e.request(http.MethodGet, path, "", nil)
}

var form = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

// login posts the form and keeps the session cookie it gets.
func (e *env) login(token string) (int, http.Header, string) {
	e.t.Helper()
	status, hdr, body := e.request(http.MethodPost, "/login", url.Values{"token": {token}, "next": {"/receipts"}}.Encode(), form)
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == "hookgate_session" && c.MaxAge > 0 {
			e.cookie = c
		}
	}
	return status, hdr, body
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf reads the session's CSRF token from a page, as the page's script does.
func (e *env) csrf() string {
	e.t.Helper()
	_, _, body := e.get("/")
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

// deliver sends a signed GitHub delivery to connection and returns the
// receipt id.
func (e *env) deliver(connection, event, body string, extra map[string]string) string {
	e.t.Helper()
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, e.ingest.URL+"/webhooks/github/"+connection, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", fmt.Sprint(time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusUnauthorized {
		e.t.Fatalf("delivery: %d", resp.StatusCode)
	}
	id := resp.Header.Get("Hookgate-Receipt-Id")
	if id == "" {
		rs, _, err := e.gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Limit: 1})
		if err != nil || len(rs) == 0 {
			e.t.Fatalf("no receipt after a delivery: %v", err)
		}
		id = rs[0].ID
	}
	return id
}

func TestPagesNeedASession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	for _, path := range []string{"/", "/receipts?status=dead", "/receipts/some-id"} {
		status, hdr, _ := e.get(path)
		if want := "/login?next=" + url.QueryEscape(path); status != http.StatusSeeOther || hdr.Get("Location") != want {
			t.Errorf("GET %s without a session: %d to %q, want 303 to %q", path, status, hdr.Get("Location"), want)
		}
	}
	status, _, body := e.get("/api/v1/receipts")
	if status != http.StatusUnauthorized || !strings.Contains(body, `"admin_unauthorized"`) {
		t.Errorf("API without token or session: %d %s", status, body)
	}
	status, _, body = e.get("/api/v1/events")
	if status != http.StatusUnauthorized {
		t.Errorf("event stream without token or session: %d %s", status, body)
	}
	status, _, body = e.get("/login")
	if status != http.StatusOK || !strings.Contains(body, `type="password" name="token"`) || !strings.Contains(body, `method="post"`) {
		t.Errorf("login page: %d %s", status, body)
	}
	// The bearer token still works, on the API only.
	status, _, _ = e.request(http.MethodGet, "/api/v1/receipts", "", map[string]string{"Authorization": "Bearer " + testToken})
	if status != http.StatusOK {
		t.Errorf("API with the bearer token: %d", status)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	status, hdr, body := e.login("not-the-token")
	if status != http.StatusUnauthorized || e.cookie != nil || hdr.Get("Set-Cookie") != "" ||
		!strings.Contains(body, "That is not the admin token.") {
		t.Fatalf("wrong token: %d cookie %v %s", status, hdr.Get("Set-Cookie"), body)
	}
	// The token in the URL is not read: it belongs in the form body only.
	status, _, _ = e.request(http.MethodPost, "/login?token="+testToken, "", form)
	if status != http.StatusUnauthorized {
		t.Errorf("token in the query string: %d, want 401", status)
	}

	status, hdr, _ = e.login(testToken)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/receipts" || e.cookie == nil {
		t.Fatalf("login: %d to %q, cookie %v", status, hdr.Get("Location"), e.cookie)
	}
	c := e.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || len(c.Value) < 40 ||
		strings.Contains(c.Value, testToken) {
		t.Errorf("session cookie: %+v", c)
	}
	for _, path := range []string{"/", "/receipts", "/api/v1/receipts", "/api/v1/connections"} {
		if status, _, body := e.get(path); status != http.StatusOK {
			t.Errorf("GET %s with the session: %d %s", path, status, body)
		}
	}
	// A next that leaves the site is dropped.
	status, hdr, _ = e.request(http.MethodPost, "/login", url.Values{"token": {testToken}, "next": {"//evil.example/x"}}.Encode(), form)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Errorf("login with an off-site next: %d to %q", status, hdr.Get("Location"))
	}
}

func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	for i := range 5 {
		if status, _, _ := e.login("guess"); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, status)
		}
	}
	status, hdr, body := e.login("guess")
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(body, "Too many login attempts") {
		t.Fatalf("6th attempt: %d %q %s", status, hdr.Get("Retry-After"), body)
	}
	// Past the limit even the right token is not compared.
	if status, _, _ := e.login(testToken); status != http.StatusTooManyRequests || e.cookie != nil {
		t.Fatalf("right token past the limit: %d, cookie %v", status, e.cookie)
	}
	e.clock.Add(2 * time.Second)
	if status, _, _ := e.login(testToken); status != http.StatusSeeOther || e.cookie == nil {
		t.Fatalf("right token after the wait: %d", status)
	}
}

func TestWritesNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	id := e.deliver("primary", "push", `{"n":1}`, nil)
	e.login(testToken)
	csrf := e.csrf()
	replay := "/api/v1/receipts/" + id + "/replay"
	jsonType := map[string]string{"Content-Type": "application/json"}

	status, _, body := e.request(http.MethodPost, replay, "", jsonType)
	if status != http.StatusForbidden || !strings.Contains(body, `"forbidden"`) {
		t.Errorf("POST with the session but no CSRF token: %d %s", status, body)
	}
	status, _, body = e.request(http.MethodPost, replay, "", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "forged"})
	if status != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d %s", status, body)
	}
	if rc, _ := e.gw.Store().Receipt(context.Background(), id); rc.Round != 0 || len(rc.History) != 1 {
		t.Fatalf("a refused write changed the receipt: round %d, history %v", rc.Round, rc.History)
	}
	// Cross-origin: the guard refuses it before the session is looked at.
	status, _, body = e.request(http.MethodPost, replay, "", map[string]string{"Content-Type": "application/json",
		"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
	if status != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
		t.Errorf("cross-origin POST: %d %s", status, body)
	}
	// A form (a "simple" request any page can send) is not JSON.
	status, _, _ = e.request(http.MethodPost, replay, "", map[string]string{"Content-Type": "text/plain", "X-CSRF-Token": csrf})
	if status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d", status)
	}
	if rc, _ := e.gw.Store().Receipt(context.Background(), id); rc.Round != 0 {
		t.Fatalf("a refused write replayed the receipt")
	}
	// The page's own request: same origin, JSON, the CSRF header.
	status, _, body = e.request(http.MethodPost, replay, "", map[string]string{"Content-Type": "application/json",
		"X-CSRF-Token": csrf, "Origin": e.admin.URL})
	if status != http.StatusAccepted {
		t.Fatalf("replay with the session and its CSRF token: %d %s", status, body)
	}
	if rc, _ := e.gw.Store().Receipt(context.Background(), id); rc.Round != 1 {
		t.Errorf("replay did not start a new round: %d", rc.Round)
	}
	// The login form from another site is refused too.
	status, _, _ = e.request(http.MethodPost, "/login", "token="+testToken, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"})
	if status != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", status)
	}
}

func TestLogoutAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	e.login(testToken)
	csrf := e.csrf()
	// Logout needs the CSRF token too.
	if status, _, _ := e.request(http.MethodPost, "/logout", "", form); status != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d", status)
	}
	if status, _, _ := e.get("/api/v1/receipts"); status != http.StatusOK {
		t.Fatalf("session ended by a logout without CSRF token: %d", status)
	}
	status, hdr, _ := e.request(http.MethodPost, "/logout", "csrf="+csrf, form)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/login" || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %q %q", status, hdr.Get("Location"), hdr.Get("Set-Cookie"))
	}
	if status, _, _ := e.get("/api/v1/receipts"); status != http.StatusUnauthorized {
		t.Errorf("the cookie still works after logout: %d", status)
	}

	e.cookie = nil
	e.login(testToken)
	e.clock.Add(12*time.Hour - time.Second)
	if status, _, _ := e.get("/"); status != http.StatusOK {
		t.Errorf("session before it expires: %d", status)
	}
	e.clock.Add(time.Second)
	if status, _, _ := e.get("/"); status != http.StatusSeeOther {
		t.Errorf("expired session: %d", status)
	}
	if status, _, _ := e.get("/api/v1/receipts"); status != http.StatusUnauthorized {
		t.Errorf("expired session on the API: %d", status)
	}
}

// TestBodiesAreEscaped: everything on a receipt's page but its id came from
// the sender. It is shown as text, never as markup.
func TestBodiesAreEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	const attack = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	id := e.deliver("primary", `push<script>alert(3)</script>`, `{"title":"`+attack+`"}`,
		map[string]string{"X-Custom": attack})
	e.login(testToken)
	for _, path := range []string{"/receipts/" + id, "/receipts", "/"} {
		status, hdr, body := e.get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s renders markup from the sender:\n%s", path, body)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		// no-referrer would make the browser send "Origin: null" on the
		// page's own posts, which the guard refuses (found by the e2e test).
		if rp := hdr.Get("Referrer-Policy"); rp != "same-origin" {
			t.Errorf("GET %s: Referrer-Policy %q", path, rp)
		}
	}
	_, _, body := e.get("/receipts/" + id)
	for _, want := range []string{
		`&#34;title&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&#34;`, // pretty-printed
		`<th>X-Custom</th><td>&lt;script&gt;`,
		`push&lt;script&gt;alert(3)&lt;/script&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("receipt page lacks %s", want)
		}
	}
}

func TestReceiptDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	id := e.deliver("primary", "pull_request", `{"action":"opened","number":7}`, nil)
	// A forged delivery: rejected, with its verification trace.
	req, _ := http.NewRequest(http.MethodPost, e.ingest.URL+"/webhooks/github/primary", strings.NewReader(`{"forged":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "forged-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rs, _, err := e.gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Status: hookgate.StatusRejected})
	if err != nil || len(rs) != 1 {
		t.Fatalf("rejected receipts: %v %v", rs, err)
	}
	rejected := rs[0].ID
	e.login(testToken)

	_, _, body := e.get("/receipts/" + id)
	for _, want := range []string{
		`id="replay" data-post="/api/v1/receipts/` + id + `/replay"`,
		"&#34;action&#34;: &#34;opened&#34;,\n  &#34;number&#34;: 7", // indented JSON
		`<th>X-Github-Event</th><td>pull_request</td>`,
		`<td id="attempt-count">0</td>`,
		`<span class="st st-received">received</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("receipt page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="admit"`) || strings.Contains(body, "Verification trace") {
		t.Errorf("an accepted receipt offers admit or shows a trace")
	}
	_, _, body = e.get("/receipts/" + rejected)
	for _, want := range []string{`id="admit" data-post="/api/v1/receipts/` + rejected + `/admit"`, "<h2>Verification trace</h2>", "signature"} {
		if !strings.Contains(body, want) {
			t.Errorf("rejected receipt page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="replay"`) {
		t.Errorf("a rejected receipt offers replay")
	}
	status, _, body := e.get("/receipts/no-such-receipt")
	if status != http.StatusNotFound || !strings.Contains(body, "not") {
		t.Errorf("missing receipt: %d %s", status, body)
	}
}

var rowID = regexp.MustCompile(`<tr data-id="([^"]+)">`)

func TestSearchFiltersAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	var ids []string
	for i := range 55 {
		conn := "primary"
		if i%5 == 0 {
			conn = "other"
		}
		e.clock.Add(time.Millisecond)
		ids = append(ids, e.deliver(conn, fmt.Sprintf("ev%d", i%2), fmt.Sprintf(`{"i":%d}`, i), nil))
	}
	e.login(testToken)
	status, _, body := e.get("/receipts")
	rows := rowID.FindAllStringSubmatch(body, -1)
	if status != http.StatusOK || len(rows) != 50 || rows[0][1] != ids[54] {
		t.Fatalf("first page: %d, %d rows", status, len(rows))
	}
	next := regexp.MustCompile(`<a id="next" href="([^"]+)">`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("first page has no link to the next")
	}
	_, _, body = e.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	rows = rowID.FindAllStringSubmatch(body, -1)
	if len(rows) != 5 || rows[4][1] != ids[0] || strings.Contains(body, `id="next"`) || !strings.Contains(body, "« newest") {
		t.Fatalf("last page: %d rows\n%s", len(rows), body)
	}

	_, _, body = e.get("/receipts?connection=other&event_type=ev0")
	rows = rowID.FindAllStringSubmatch(body, -1)
	if len(rows) != 6 { // i = 0, 10, …, 50
		t.Errorf("connection and event type: %d rows, want 6", len(rows))
	}
	if !strings.Contains(body, `<option selected>other</option>`) || !strings.Contains(body, `name="event_type" value="ev0"`) {
		t.Errorf("the form does not show the filter back")
	}
	since := e.clock.Now().Add(-2 * time.Millisecond).Format(time.RFC3339Nano)
	_, _, body = e.get("/receipts?since=" + url.QueryEscape(since))
	if rows = rowID.FindAllStringSubmatch(body, -1); len(rows) != 3 { // since is inclusive
		t.Errorf("since %s: %d rows, want 3", since, len(rows))
	}
	_, _, body = e.get("/receipts?status=dead")
	if rows = rowID.FindAllStringSubmatch(body, -1); len(rows) != 0 || !strings.Contains(body, "No receipt matches.") {
		t.Errorf("status dead: %d rows", len(rows))
	}
	for _, bad := range []string{"?status=nope", "?since=yesterday", "?cursor=bad"} {
		status, _, body := e.get("/receipts" + bad)
		if status != http.StatusBadRequest || !strings.Contains(body, `class="msg bad"`) {
			t.Errorf("GET /receipts%s: %d", bad, status)
		}
	}
}

var healthRow = regexp.MustCompile(`(?s)<a href="/receipts\?connection=primary">primary</a>.*?</tr>`)

func TestOverviewShowsHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	for i := range 3 {
		e.deliver("primary", "push", fmt.Sprintf(`{"i":%d}`, i), nil)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ingest.URL+"/webhooks/github/primary", bytes.NewReader([]byte(`{}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.login(testToken)
	status, _, body := e.get("/")
	if status != http.StatusOK {
		t.Fatalf("overview: %d %s", status, body)
	}
	row := healthRow.FindString(body)
	for _, want := range []string{
		`<td>3 <span class="muted">0.05/min</span></td>`, // accepted, over the hour
		`status=rejected">1</a>`,
		`status=dead">0</a>`,
		`s ago</a> <span class="st st-rejected">rejected</span>`, // the newest receipt
		`<span class="handler">sink <span class="circuit circuit-closed">closed</span></span>`, // with its circuit
	} {
		if !strings.Contains(row, want) {
			t.Errorf("primary's health row lacks %q:\n%s", want, row)
		}
	}
	for _, want := range []string{`<span class="key c-pending">pending 3</span>`, `<span class="key c-rejected">rejected 1</span>`,
		`<rect class="c-pending"`, `<rect class="c-rejected"`} {
		if !strings.Contains(body, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if _, _, body := e.get("/?window=7d"); !strings.Contains(body, `href="/?window=7d" class="current"`) {
		t.Errorf("7d window not selected")
	}
}

func TestNoTokenNoLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	if status, _, body := e.get("/"); status != http.StatusOK || strings.Contains(body, "Log out") {
		t.Errorf("overview without a token configured: %d", status)
	}
	if status, hdr, _ := e.get("/login"); status != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Errorf("login page without a token configured: %d %q", status, hdr.Get("Location"))
	}
	// The guard still stands: no page in the browser can write.
	status, _, _ := e.request(http.MethodPost, "/api/v1/connections", `{}`, map[string]string{
		"Content-Type": "application/json", "Origin": "http://evil.example"})
	if status != http.StatusForbidden {
		t.Errorf("cross-origin write without a token configured: %d", status)
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	_, _, page := e.get("/login")
	src := regexp.MustCompile(`<script src="(/assets/app.js\?v=[0-9a-f]+)" defer>`).FindStringSubmatch(page)
	if src == nil {
		t.Fatalf("no script on the login page:\n%s", page)
	}
	status, hdr, body := e.get(src[1])
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(hdr.Get("Cache-Control"), "immutable") || !strings.Contains(body, "EventSource") {
		t.Fatalf("app.js: %d %v", status, hdr)
	}
	if strings.Contains(body, "innerHTML") {
		t.Errorf("app.js writes markup")
	}
	status, _, _ = e.request(http.MethodGet, src[1], "", map[string]string{"If-None-Match": hdr.Get("ETag")})
	if status != http.StatusNotModified {
		t.Errorf("app.js with its ETag: %d", status)
	}
	if status, _, _ := e.get("/assets/nope.js"); status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", status)
	}
}

func TestEventStreamWithTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testToken)
	e.login(testToken)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.admin.URL+"/api/v1/events", nil)
	req.AddCookie(e.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream with the session: %d", resp.StatusCode)
	}
	id := e.deliver("primary", "push", `{"live":true}`, nil)
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), id) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended before the transition of %s: %v\n%s", id, err, got.String())
		}
		got.Write(buf[:n])
	}
	var line string
	for _, l := range strings.Split(got.String(), "\n") {
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, id) {
			line = strings.TrimPrefix(l, "data: ")
		}
	}
	var tr map[string]any
	if err := json.Unmarshal([]byte(line), &tr); err != nil || tr["status"] != "received" {
		t.Errorf("transition: %v %s", err, line)
	}
}
