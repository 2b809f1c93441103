package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReceiptsReplayCLI runs `hookgate receipts replay` against a real
// `hookgate serve`: a dry run counts, a bulk replay by filter replays only
// what the filter selects (through the server's dispatcher) showing its
// progress, a replay by id still works, and usage errors exit 2.
func TestReceiptsReplayCLI(t *testing.T) {
	var calls atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 4 {
			w.WriteHeader(http.StatusInternalServerError) // every first attempt: dead at once
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
	listen, adminAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf(`listen: %q
admin: {listen: %q}
unsigned_forwarding: true
dispatch: {poll_interval: 50ms}
handlers:
  - {name: forward, type: http, url: %q}
connections:
  - {type: internal, name: svc, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     event_type: "body:type", retry: {max_attempts: 1}, routes: [{handlers: [forward]}]}
`, listen, adminAddr, sink.URL), adminAddr)
	for i, event := range []string{"order.paid", "order.paid", "order.paid", "order.refunded"} {
		req, _ := http.NewRequest("POST", "http://"+listen+"/webhooks/internal/svc", strings.NewReader(`{"type":"`+event+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Token", "tok")
		req.Header.Set("X-Nonce", fmt.Sprint("n", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("delivery %d = %d", i, resp.StatusCode)
		}
	}
	admin := "--admin-url=http://" + adminAddr
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	countDead := func() int {
		_, out := run(t, "receipts", "list", admin, "--connection", "svc", "--status", "dead", "-q")
		return len(strings.Fields(out))
	}
	waitFor("4 dead receipts", func() bool { return countDead() == 4 })

	code, out := run(t, "receipts", "replay", admin, "--filter", "connection=svc,status=dead,event_type=order.paid", "--dry-run")
	if code != 0 || !strings.Contains(out, "would replay 3 receipts") {
		t.Fatalf("dry run: exit %d: %s", code, out)
	}
	if calls.Load() != 4 || countDead() != 4 {
		t.Fatalf("a dry run replayed something: %d calls, %d dead", calls.Load(), countDead())
	}

	code, out = run(t, "receipts", "replay", admin, "--connection", "svc", "--status", "dead", "--filter", "event-type=order.paid")
	if code != 0 || !strings.Contains(out, "replaying 3 receipts") || !strings.Contains(out, "replayed 3/3") ||
		!strings.Contains(out, "done: 3 receipts replayed") {
		t.Fatalf("bulk replay: exit %d: %s", code, out)
	}
	// The server's dispatcher delivers them; the refunded one stays dead.
	waitFor("3 replays delivered", func() bool { return calls.Load() == 7 && countDead() == 1 })
	_, refunded := run(t, "receipts", "list", admin, "--connection", "svc", "--event-type", "order.refunded", "-q")
	refunded = strings.TrimSpace(refunded)
	if _, dead := run(t, "receipts", "list", admin, "--status", "dead", "-q"); strings.TrimSpace(dead) != refunded {
		t.Fatalf("dead after the replay: %q, want only the refunded receipt %q", dead, refunded)
	}

	// One receipt by id, as before.
	code, out = run(t, "receipts", "replay", admin, refunded)
	if code != 0 || !strings.Contains(out, "replaying "+refunded) {
		t.Fatalf("replay by id: exit %d: %s", code, out)
	}
	waitFor("the refunded receipt delivered", func() bool { return calls.Load() == 8 && countDead() == 0 })

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"neither id nor filter", []string{"receipts", "replay", admin}, 2, "give a receipt ID, or a filter"},
		{"id and filter", []string{"receipts", "replay", admin, refunded, "--status", "dead"}, 2, "not both"},
		{"unknown filter key", []string{"receipts", "replay", admin, "--filter", "conection=svc"}, 2, `unknown key "conection"`},
		{"not key=value", []string{"receipts", "replay", admin, "--filter", "svc"}, 2, "is not key=value"},
		{"both ways, differently", []string{"receipts", "replay", admin, "--filter", "status=dead", "--status", "failed"}, 2, "given in --filter"},
		{"refused by the API", []string{"receipts", "replay", admin, "--status", "rejected"}, 1, "never replayed"},
		{"bad time", []string{"receipts", "replay", admin, "--since", "yesterday"}, 1, "RFC 3339"},
	} {
		code, out := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q: %s", tc.name, code, tc.code, tc.want, out)
		}
	}
	var help bytes.Buffer
	Run(t.Context(), []string{"receipts", "replay", "--help"}, &help, &help)
	for _, want := range []string{"--filter 'connection=primary,status=dead' --dry-run", "--dry-run", "receipts admit"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("replay --help lacks %q", want)
		}
	}
}
