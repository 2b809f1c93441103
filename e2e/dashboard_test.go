package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium or Chrome binary; "" when there is none.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// receiptSink answers 204 and records the receipt id of each delivery.
type receiptSink struct {
	mu  sync.Mutex
	ids []string
}

func (s *receiptSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ids = append(s.ids, r.Header.Get("Hookgate-Receipt-Id"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *receiptSink) deliveries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// TestDashboardInABrowser drives the dashboard of a real hookgate process
// with headless Chromium: log in with the admin token, watch a signed
// delivery appear live on the receipts page, open it, replay it, and see
// its attempt count grow. Screenshots of each step are written to
// HOOKGATE_ARTIFACTS_DIR (else a new temporary directory) and their paths
// logged.
func TestDashboardInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process and a browser; skipped with -short")
	}
	browser := chromium()
	if browser == "" {
		t.Skip("no Chromium found (apt-get install -y chromium): skipping the dashboard browser test")
	}
	sink := &receiptSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()

	const token, secret = "dashboard-e2e-token", "whsec_dashboard_e2e"
	dir := t.TempDir()
	listen, adminAddr := freePort(t), freePort(t)
	cfgPath := filepath.Join(dir, "hookgate.yaml")
	cfg := fmt.Sprintf(`listen: %q
admin: {listen: %q, token: %q}
unsigned_forwarding: true
connections:
  - type: github
    name: primary
    signing_secret: %q
    routes:
      - handlers: [sink]
handlers:
  - name: sink
    type: http
    url: %q
`, listen, adminAddr, token, secret, srv.URL+"/hook")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, cfgPath, adminAddr)
	defer p.kill9()

	artifacts := os.Getenv("HOOKGATE_ARTIFACTS_DIR")
	if artifacts == "" {
		var err error
		if artifacts, err = os.MkdirTemp("", "hookgate-dashboard-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			path := filepath.Join(artifacts, name)
			if err := os.WriteFile(path, png, 0o644); err != nil {
				return chromedp.Void{}, err
			}
			t.Logf("screenshot: %s", path)
			return chromedp.Void{}, nil
		}
	}
	failed := func(step string, err error) {
		t.Helper()
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v\npage:\n%s\nhookgate:\n%s", step, err, html, p.logs.String())
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			failed(step, err)
		}
	}
	base := "http://" + adminAddr

	// Log in: the receipts page sends the browser to the login form, and
	// the form back to the receipts page.
	do("log in",
		chromedp.Navigate(base+"/receipts"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		shot("1-login.png"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#receipts")),
		// The event stream is open (authenticated by the session cookie).
		chromedp.WaitVisible(chromedp.CSS("#live.on")),
		shot("2-receipts-empty.png"),
	)
	// A marker that a reload or a navigation would wipe out.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage = true`)); err != nil {
		failed("mark the page", err)
	}

	// A signed delivery arrives while the page is open.
	body := []byte(`{"action":"opened","number":25,"title":"<b>not bold</b>"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/webhooks/github/primary", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", "dashboard-e2e-1")
	req.Header.Set("X-Hub-Signature-256", sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("delivery: %d", resp.StatusCode)
	}

	do("see the delivery appear live", chromedp.WaitVisible(chromedp.CSS(`#receipts tbody tr[data-id]`)), shot("3-receipt-live.png"))
	row, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#receipts tbody tr[data-id]`), "data-id"))
	if err != nil {
		failed("read the row", err)
	}
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage === true`)); err != nil || !same {
		t.Fatalf("the receipts page was reloaded or left (%v): the row did not arrive live", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.deliveries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := sink.deliveries(); len(got) != 1 || got[0] != row.Value {
		t.Fatalf("the live row is %q; the sink got %v", row.Value, got)
	}

	// attempts waits until the page shows n attempts. The page reloads
	// itself on the receipt's transitions, so each check is a fresh
	// evaluation, and one that meets a reload is tried again.
	attempts := func(n int) chromedp.Action[chromedp.Void] {
		expr := fmt.Sprintf(`(document.getElementById('attempt-count') || {}).textContent === '%d'`, n)
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			deadline := time.Now().Add(10 * time.Second)
			for {
				ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
				if err == nil && ok {
					return chromedp.Void{}, nil
				}
				if time.Now().After(deadline) {
					return chromedp.Void{}, fmt.Errorf("the page does not show %d attempts (last error: %v)", n, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	do("open it",
		chromedp.Click(chromedp.CSS(`#receipts tbody tr[data-id] a`)),
		chromedp.WaitVisible(chromedp.CSS("#replay")),
		// The first dispatch has finished by now (the sink saw it); had it
		// not, the page reloads itself on the receipt's transitions.
		attempts(1),
		shot("4-receipt-detail.png"),
	)
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#body")))
	if err != nil {
		failed("read the body", err)
	}
	if want := `"title": "<b>not bold</b>"`; !strings.Contains(shown, want) {
		t.Errorf("the body is not shown as text: %q", shown)
	}

	do("replay it and see the attempt count grow",
		chromedp.Click(chromedp.CSS("#replay")),
		attempts(2),
		chromedp.WaitVisible(chromedp.CSS(`#status.st-acknowledged`)),
		shot("5-receipt-replayed.png"),
	)
	if got := sink.deliveries(); len(got) != 2 || got[1] != row.Value {
		t.Errorf("after the replay the sink got %v", got)
	}
}
