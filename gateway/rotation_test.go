package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
)

func githubHeaders(secret string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))},
		"X-Github-Delivery": {uuid.NewString()}, "X-Github-Event": {"push"}}
}

// TestSecretRotation: add a secret, both verify (the receipt records which),
// retire the old one, only the new verifies; the last one cannot be retired.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "github", "name": "gh", "signing_secret": "old-secret"}, nil); st != 201 {
		t.Fatal(st)
	}
	var added map[string]any
	if st := tg.api("POST", "/api/v1/connections/github/gh/secrets", map[string]any{"secret": "new-secret"}, &added); st != 201 {
		t.Fatalf("add secret = %d %v", st, added)
	}
	if added["id"] != hookgate.SecretID("new-secret") || strings.Contains(added["fingerprint"].(string), "new-secret") {
		t.Fatalf("added = %v", added)
	}
	if st := tg.api("POST", "/api/v1/connections/github/gh/secrets", map[string]any{"secret": "new-secret"}, nil); st != 409 {
		t.Errorf("adding an active secret again = %d", st)
	}
	body := []byte(`{"ref":"main"}`)
	for _, s := range []string{"old-secret", "new-secret"} {
		if st, b := tg.post("/webhooks/github/gh", githubHeaders(s, body), body); st != 204 {
			t.Fatalf("%s during rotation = %d %s", s, st, b)
		}
	}
	used := map[string]bool{}
	for _, r := range tg.receipts("gh") {
		used[r.SecretID] = true
	}
	if !used[hookgate.SecretID("old-secret")] || !used[hookgate.SecretID("new-secret")] {
		t.Fatalf("receipts do not record the secret that verified: %v", used)
	}
	if st := tg.api("DELETE", "/api/v1/connections/github/gh/secrets/"+hookgate.SecretID("old-secret"), nil, nil); st != 204 {
		t.Fatalf("retire = %d", st)
	}
	if st, _ := tg.post("/webhooks/github/gh", githubHeaders("old-secret", body), body); st != 401 {
		t.Fatalf("retired secret still verifies: %d", st)
	}
	if st, _ := tg.post("/webhooks/github/gh", githubHeaders("new-secret", body), body); st != 204 {
		t.Fatalf("new secret = %d", st)
	}
	if st := tg.api("DELETE", "/api/v1/connections/github/gh/secrets/"+hookgate.SecretID("new-secret"), nil, nil); st != 409 {
		t.Errorf("retiring the last secret = %d", st)
	}
	if st := tg.api("DELETE", "/api/v1/connections/github/gh/secrets/sec_00000000", nil, nil); st != 404 {
		t.Errorf("retiring an unknown secret = %d", st)
	}
	var view map[string]any
	tg.api("GET", "/api/v1/connections/github/gh", nil, &view)
	if strings.Contains(strings.ToLower(toJSON(view)), "new-secret") {
		t.Fatal("connection view leaks the secret")
	}
}

// TestAdmitAfterSecretFix: deliveries rejected for a wrong secret are kept
// with their body; once the secret is fixed they are admitted and dispatched.
func TestAdmitAfterSecretFix(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`"}
`)
	tg.api("POST", "/api/v1/connections", map[string]any{"type": "github", "name": "gh", "signing_secret": "typo-secret",
		"routes": []map[string]any{{"handlers": []string{"forward"}}}}, nil)
	body := []byte(`{"ref":"main"}`)
	h := githubHeaders("real-secret", body)
	if st, _ := tg.post("/webhooks/github/gh", h, body); st != 401 {
		t.Fatal(st)
	}
	rejected := tg.receipts("gh")[0]

	var out map[string]any
	if st := tg.api("POST", "/api/v1/receipts/"+rejected.ID+"/admit", nil, &out); st != 409 || out["trace"] == nil {
		t.Fatalf("admit before the fix = %d %v (want 409 with the trace)", st, out)
	}
	tg.api("POST", "/api/v1/connections/github/gh/secrets", map[string]any{"secret": "real-secret"}, nil)
	if st := tg.api("POST", "/api/v1/receipts/"+rejected.ID+"/admit", nil, &out); st != 202 {
		t.Fatalf("admit = %d %v", st, out)
	}
	tg.drain()
	got := tg.receipt(rejected.ID)
	if got.Status != hookgate.StatusAcknowledged || got.EventType != "push" || got.SecretID != hookgate.SecretID("real-secret") || s.count() != 1 {
		t.Fatalf("admitted receipt = %s %q %q, %d calls", got.Status, got.EventType, got.SecretID, s.count())
	}
	if st := tg.api("POST", "/api/v1/receipts/"+rejected.ID+"/admit", nil, nil); st != 409 {
		t.Errorf("admitting twice = %d", st)
	}
	// The provider's own retry of the same delivery is now a duplicate.
	if st, _ := tg.post("/webhooks/github/gh", h, body); st != 204 {
		t.Fatal(st)
	}
	dups := 0
	for _, r := range tg.receipts("gh") {
		if r.Status == hookgate.StatusDuplicate && r.DuplicateOf == rejected.ID {
			dups++
		}
	}
	if dups != 1 {
		t.Fatalf("the retry after admission is not a duplicate of the admitted receipt")
	}
}

func TestAdmitRefusesCredentialSchemes(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: n, auth: secret, signature_header: X-Token, signing_secret: tok}
`)
	tg.post("/webhooks/internal/n", http.Header{"X-Token": {"wrong"}}, []byte(`{}`))
	id := tg.receipts("n")[0].ID
	var out map[string]any
	if st := tg.api("POST", "/api/v1/receipts/"+id+"/admit", nil, &out); st != 409 || !strings.Contains(out["message"].(string), "credential") {
		t.Fatalf("= %d %v", st, out)
	}
	if got := tg.receipt(id).Headers.Get("X-Token"); got != "[redacted]" {
		t.Fatalf("credential stored: %q", got)
	}
}
