// Package e2e runs the real hookgate binary: the crash test of the core
// issue and the quick-start flow.
package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookgate-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hookgate")
	build := exec.Command("go", "build", "-o", binary, "../cmd/hookgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hookgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testSecretKey seals stored secrets in the processes the tests start (hex of
// 32 bytes).
const testSecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// process is one running `hookgate serve`.
type process struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

func start(t *testing.T, dir, cfgPath, adminAddr string) *process {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--config", cfgPath)
	cmd.Dir = dir
	// One key for every process of a test: PostgreSQL has no default key,
	// and instances sharing a database must seal with the same one.
	cmd.Env = append(os.Environ(), "HOOKGATE_SECRET_KEY="+testSecretKey)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: logs}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Fatalf("hookgate did not become ready:\n%s", logs)
	return nil
}

func (p *process) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// exclusiveSink records every delivery and flags a receipt id that arrives
// while a delivery of the same id is still in flight (two workers at once).
type exclusiveSink struct {
	mu         sync.Mutex
	inFlight   map[string]bool
	delivered  map[string]int
	violations atomic.Int64
}

func (s *exclusiveSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Hookgate-Receipt-Id")
	s.mu.Lock()
	if s.inFlight[id] {
		s.violations.Add(1)
	}
	s.inFlight[id] = true
	s.mu.Unlock()
	time.Sleep(3 * time.Millisecond) // widen the window in which overlap would show
	s.mu.Lock()
	delete(s.inFlight, id)
	s.delivered[id]++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestCrashSafety: a real hookgate process under concurrent load is killed
// with SIGKILL; after restart every delivery that got a 2xx is stored and
// dispatched, and no receipt is delivered by two workers at once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a real process; skipped with -short")
	}
	dir := t.TempDir()
	sink := &exclusiveSink{inFlight: map[string]bool{}, delivered: map[string]int{}}
	dest := httptest.NewServer(sink)
	defer dest.Close()

	listen, adminAddr := freePort(t), freePort(t)
	const secret = "crash-test-secret"
	cfgPath := filepath.Join(dir, "hookgate.yaml")
	cfg := fmt.Sprintf(`
listen: %q
admin: {listen: %q}
storage: {url: "sqlite://%s"}
dispatch: {workers: 4, lease: 2s, poll_interval: 100ms}
log: {level: warn}
unsigned_forwarding: true
handlers:
  - {name: sink, type: http, url: %q, timeout: 5s}
connections:
  - type: github
    name: primary
    signing_secret: %s
    routes: [{handlers: [sink]}]
`, listen, adminAddr, filepath.Join(dir, "hookgate.db"), dest.URL, secret)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	p := start(t, dir, cfgPath, adminAddr)
	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // delivery ids answered 2xx
		sent     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 5000; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				body := []byte(fmt.Sprintf(`{"action":"opened","delivery":%q,"pad":"%s"}`, id, strings.Repeat("x", 512)))
				req, _ := http.NewRequest("POST", "http://"+listen+"/webhooks/github/primary", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-GitHub-Event", "pull_request")
				req.Header.Set("X-Hub-Signature-256", sign(secret, body))
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					continue // the process died mid-request: not acknowledged, nothing promised
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					accepted[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	p.kill9() // mid-load: requests, commits and dispatches are in flight
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	nAccepted := len(accepted)
	mu.Unlock()
	if nAccepted < 50 {
		t.Fatalf("only %d deliveries accepted before the kill (of %d sent); the load did not run:\n%s", nAccepted, sent.Load(), p.logs)
	}

	p2 := start(t, dir, cfgPath, adminAddr)
	defer p2.kill9()

	// Every accepted delivery is stored and reaches acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	var byNonce map[string]receiptRow
	for {
		byNonce = listAll(t, adminAddr)
		pending := 0
		missing := 0
		for id := range accepted {
			r, ok := byNonce[id]
			switch {
			case !ok:
				missing++
			case r.Status != "acknowledged":
				pending++
			}
		}
		if missing > 0 {
			t.Fatalf("%d deliveries answered 2xx are not in the store after kill -9", missing)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted receipts never reached acknowledged after restart:\n%s", pending, p2.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for id := range accepted {
		if sink.delivered[byNonce[id].ID] == 0 {
			t.Fatalf("accepted delivery %s was never dispatched", id)
		}
	}
	if v := sink.violations.Load(); v != 0 {
		t.Fatalf("%d deliveries arrived while the same receipt was in flight elsewhere", v)
	}
	t.Logf("sent %d, accepted %d before SIGKILL; all stored and dispatched after restart", sent.Load(), nAccepted)
}

type receiptRow struct {
	ID     string `json:"id"`
	Nonce  string `json:"nonce"`
	Status string `json:"status"`
}

func listAll(t *testing.T, adminAddr string) map[string]receiptRow {
	t.Helper()
	out := map[string]receiptRow{}
	cursor := ""
	for {
		url := "http://" + adminAddr + "/api/v1/receipts?connection=primary&limit=500"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Receipts []receiptRow `json:"receipts"`
			Next     string       `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Receipts {
			out[r.Nonce] = r
		}
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}
