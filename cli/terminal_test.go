package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTerminalSaysWhatHappened: `receipts list` says when nothing matches,
// and `tail` shows a failure's reason and when it is tried next.
func TestTerminalSaysWhatHappened(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	adminAddr, publicAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf(`listen: %q
admin: {listen: %q}
unsigned_forwarding: true
handlers:
  - {name: down, type: http, url: %q, retry: {initial_interval: 1h}}
connections:
  - {type: internal, name: t, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [down]}]}
`, publicAddr, adminAddr, down.URL), adminAddr)
	admin := "http://" + adminAddr

	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"receipts", "list", "--admin-url", admin}, &out, &errOut); code != 0 {
		t.Fatalf("receipts list exited %d: %s", code, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "no receipts yet" {
		t.Errorf("receipts list on an empty store printed %q", got)
	}
	out.Reset()
	if code := Run(context.Background(), []string{"receipts", "list", "--status", "dead", "--connection", "t", "--admin-url", admin}, &out, &errOut); code != 0 {
		t.Fatalf("receipts list exited %d: %s", code, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "no receipts match connection=t status=dead" {
		t.Errorf("receipts list with no match printed %q", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	tailOut, tailErr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"tail", "--admin-url", admin}, tailOut, tailErr) }()
	t.Cleanup(func() { cancel(); <-done })
	for !strings.Contains(tailErr.String(), "watching") {
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", "http://"+publicAddr+"/webhooks/internal/t", strings.NewReader(`{}`))
	req.Header.Set("X-Token", "tok")
	req.Header.Set("X-Nonce", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tailOut.String(), "→ failed") {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed no failure within 10 s:\n%s", tailOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var line string
	for _, l := range strings.Split(tailOut.String(), "\n") {
		if strings.Contains(l, "→ failed") {
			line = l
		}
	}
	if !strings.Contains(line, "503") || !strings.Contains(line, "(next attempt at ") {
		t.Errorf("tail's failure line lacks the reason or the next attempt: %q", line)
	}
}
