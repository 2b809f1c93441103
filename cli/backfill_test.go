package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBackfillCLI runs `hookgate backfill` against a real `hookgate serve`
// whose stripe connection backfills from a local fake of Stripe's events
// API: a dry run prints what is missing and stores nothing, a run stores
// it, and a second run finds nothing missing. Usage errors exit 2.
func TestBackfillCLI(t *testing.T) {
	created := time.Now().Add(-10 * time.Minute).Unix()
	event := map[string]any{"id": "evt_cli", "object": "event", "type": "invoice.paid", "created": created,
		"data": map[string]any{"object": map[string]any{"id": "in_1"}}}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk_test_cli" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v1/events":
			json.NewEncoder(w).Encode(map[string]any{"object": "list", "has_more": false, "data": []any{event}})
		case "/v1/events/evt_cli":
			json.NewEncoder(w).Encode(event)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	listen, adminAddr := freeAddr(t), freeAddr(t)
	startServe(t, fmt.Sprintf(`listen: %q
admin: {listen: %q}
connections:
  - type: stripe
    name: pay
    signing_secret: whsec_cli
    backfill: {api_token: sk_test_cli, api_base_url: %q}
`, listen, adminAddr, api.URL), adminAddr)
	admin := "--admin-url=http://" + adminAddr

	code, out := run(t, "backfill", admin, "--connection", "pay", "--since", "1h", "--dry-run")
	if code != 0 || !strings.Contains(out, "hookgate lacks 1") || !strings.Contains(out, "evt_cli") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d: %s", code, out)
	}
	if _, list := run(t, "receipts", "list", admin, "--connection", "pay", "-q"); strings.TrimSpace(list) != "" {
		t.Fatalf("a dry run stored %q", list)
	}
	code, out = run(t, "backfill", admin, "--connection", "pay", "--since", "1h")
	if code != 0 || !strings.Contains(out, "recovered 1") {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	code, out = run(t, "backfill", admin, "--connection", "pay", "--since", "1h", "--json")
	if code != 0 || !strings.Contains(out, `"missing": []`) {
		t.Fatalf("second run: exit %d: %s", code, out)
	}
	if code, out := run(t, "backfill", admin, "--connection", "pay"); code != 2 {
		t.Fatalf("no --since: exit %d: %s", code, out)
	}
	if code, out := run(t, "backfill", admin, "--connection", "nope", "--since", "1h"); code == 0 || !strings.Contains(out, "not found") {
		t.Fatalf("unknown connection: exit %d: %s", code, out)
	}
}
