package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// TestListenForwardsLiveDeliveries runs `hookgate listen` against a real
// server: the last delivery (--replay 1) and then a live one reach the local
// app with their bodies and original headers, signed with Standard Webhooks
// under --secret; a rejected request and another connection's delivery do not.
func TestListenForwardsLiveDeliveries(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	checker, err := verify.New(verify.Config{Auth: "svix", Secrets: []verify.Secret{{ID: "s", Value: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		body, nonce, receipt string
		verified             bool
	}
	var mu sync.Mutex
	var received []got
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, verr := checker.Verify(&verify.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: body, Now: time.Now()})
		mu.Lock()
		received = append(received, got{string(body), r.Header.Get("X-Nonce"), r.Header.Get("Hookgate-Receipt-Id"), verr == nil})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(app.Close)

	adminAddr, publicAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf(`listen: %q
admin: {listen: %q}
unsigned_forwarding: true
handlers:
  - {name: log, type: log}
connections:
  - {type: internal, name: dev, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [log]}]}
  - {type: internal, name: other, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [log]}]}
`, publicAddr, adminAddr), adminAddr)
	post := func(conn, token, nonce, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+publicAddr+"/webhooks/internal/"+conn, strings.NewReader(body))
		req.Header.Set("X-Token", token)
		req.Header.Set("X-Nonce", nonce)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("dev", "tok", "1", `{"n":1}`) // before listen: only --replay brings it

	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"listen", "--admin-url", "http://" + adminAddr, "--connection", "dev",
			"--forward", app.URL + "/hook", "--secret", secret, "--replay", "1"}, out, errOut)
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			have := len(received)
			mu.Unlock()
			if have >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the local app got %d deliveries within 10 s, want %d\nout: %s\nerr: %s", have, n, out, errOut)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(1)
	post("dev", "bad", "2", `{"n":2}`)   // rejected: not a delivery
	post("other", "tok", "3", `{"n":3}`) // another connection
	post("dev", "tok", "4", `{"n":4}`)
	wait(2)
	time.Sleep(200 * time.Millisecond) // nothing else may follow
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 2 || received[0].body != `{"n":1}` || received[1].body != `{"n":4}` {
		t.Fatalf("the local app got %+v, want the replayed n=1 then the live n=4", received)
	}
	for _, g := range received {
		if !g.verified || g.receipt == "" || g.nonce == "" {
			t.Errorf("forwarded request %+v: want a valid Standard Webhooks signature, the receipt id and the original X-Nonce", g)
		}
	}
	if n := strings.Count(out.String(), "→ 202 Accepted"); n != 2 {
		t.Errorf("listen printed %d answer lines, want 2:\n%s", n, out)
	}
}

// TestListenUsage: missing flags are a usage error (exit 2).
func TestListenUsage(t *testing.T) {
	for _, args := range [][]string{
		{"listen", "--forward", "http://localhost:3000"},
		{"listen", "--connection", "c"},
		{"listen", "--connection", "c", "--forward", "localhost:3000"},
		{"listen", "--connection", "c", "--forward", "http://localhost:3000", "--replay", "-1"},
	} {
		if code := Run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v exited %d, want 2", args, code)
		}
	}
}
