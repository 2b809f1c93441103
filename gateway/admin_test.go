package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
)

func TestAdminTokenRequired(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "admin: {token: adm-token}\n")
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic adm-token", 401}, {"Bearer adm-token", 200}} {
		req, _ := http.NewRequest("GET", tg.admin.URL+"/api/v1/connections", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		st, b := do(t, req)
		if st != tc.want {
			t.Errorf("auth %q = %d, want %d", tc.auth, st, tc.want)
		}
		if st == 401 {
			assertErrorBody(t, b, hookgate.EAdminAuth)
		}
	}
	// Probes stay open for orchestrators.
	req, _ := http.NewRequest("GET", tg.admin.URL+"/healthz", nil)
	if st, _ := do(t, req); st != 200 {
		t.Errorf("healthz = %d", st)
	}
	req, _ = http.NewRequest("GET", tg.admin.URL+"/readyz", nil)
	if st, _ := do(t, req); st != 200 {
		t.Errorf("readyz = %d", st)
	}
}

func TestAdminConnectionLifecycle(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: from-file, signing_secret: file-secret}
`)
	var created map[string]any
	st := tg.api("POST", "/api/v1/connections", map[string]any{
		"type": "github", "name": "primary", "signing_secrets": []string{"first-secret", "second-secret"},
		"nonce_header": "X-GitHub-Delivery", "signature_header": "X-Hub-Signature-256", "replay_window_seconds": 120,
		"verify_token": "handshake-token",
	}, &created)
	if st != 201 {
		t.Fatalf("create = %d %v", st, created)
	}
	raw := fmt.Sprint(created)
	if strings.Contains(raw, "first-secret") || strings.Contains(raw, "second-secret") || strings.Contains(raw, "handshake-token") {
		t.Fatalf("answer leaks secrets: %v", created)
	}
	if secrets := created["secrets"].([]any); len(secrets) != 2 || secrets[0].(map[string]any)["fingerprint"] == "" {
		t.Fatalf("secrets = %v", created["secrets"])
	}

	// Same name again (under any type) → 409; bad input → 400.
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "stripe", "name": "primary", "signing_secret": "x", "auth": "sha256"}, nil); st != 409 && st != 400 {
		t.Errorf("duplicate name = %d", st)
	}
	for _, bad := range []map[string]any{
		{"type": "github", "name": "nosecret"},
		{"type": "nopreset", "name": "x", "signing_secret": "s"},
		{"type": "github", "name": "badauth", "auth": "rot13", "signing_secret": "s"},
		{"type": "github", "name": "badroute", "signing_secret": "s", "routes": []map[string]any{{"handlers": []string{"ghost"}}}},
		{"type": "github", "name": "x", "unknown_field": 1},
		{"name": "x"},
	} {
		var e map[string]any
		if st := tg.api("POST", "/api/v1/connections", bad, &e); st != 400 {
			t.Errorf("%v = %d %v", bad, st, e)
		} else if e["error"] != hookgate.EInvalid {
			t.Errorf("%v: error %v", bad, e)
		}
	}

	// The registered connection receives right away.
	if st, _ := tg.post("/webhooks/github/primary", nil, []byte(`{}`)); st != 401 {
		t.Fatalf("new connection not live: %d", st)
	}

	var list struct{ Connections []map[string]any }
	tg.api("GET", "/api/v1/connections", nil, &list)
	if len(list.Connections) != 2 {
		t.Fatalf("list = %v", list)
	}

	var patched map[string]any
	if st := tg.api("PATCH", "/api/v1/connections/github/primary", map[string]any{"replay_window_seconds": 30}, &patched); st != 200 {
		t.Fatalf("patch = %d %v", st, patched)
	}
	if patched["replay_window_seconds"].(float64) != 30 || patched["nonce_header"] != "X-GitHub-Delivery" {
		t.Errorf("patch lost fields: %v", patched)
	}

	// File connections are read-only here.
	if st := tg.api("PATCH", "/api/v1/connections/github/from-file", map[string]any{"paused": true}, nil); st != 403 {
		t.Errorf("patch file connection = %d", st)
	}
	if st := tg.api("DELETE", "/api/v1/connections/github/from-file", nil, nil); st != 403 {
		t.Errorf("delete file connection = %d", st)
	}
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "github", "name": "from-file", "signing_secret": "x"}, nil); st != 403 {
		t.Errorf("shadow file connection = %d", st)
	}

	if st := tg.api("DELETE", "/api/v1/connections/github/primary", nil, nil); st != 204 {
		t.Fatalf("delete = %d", st)
	}
	if st := tg.api("GET", "/api/v1/connections/github/primary", nil, nil); st != 404 {
		t.Errorf("get deleted = %d", st)
	}
	if st, _ := tg.post("/webhooks/github/primary", nil, []byte(`{}`)); st != 404 {
		t.Errorf("deleted connection still receives: %d", st)
	}
}

func TestAdminReceiptsListAndPaging(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, event_type: body:type}
  - {type: internal, name: b, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce}
`)
		for i := 0; i < 7; i++ {
			tg.clock.Add(1)
			tg.post("/webhooks/internal/a", http.Header{"X-Token": {"tok"}, "X-Nonce": {fmt.Sprint(i)}}, []byte(fmt.Sprintf(`{"type":"t%d"}`, i%2)))
		}
		tg.post("/webhooks/internal/b", http.Header{"X-Token": {"tok"}, "X-Nonce": {"x"}}, []byte(`{}`))

		var ids []string
		cursor := ""
		for page := 0; ; page++ {
			var out struct {
				Receipts []map[string]any `json:"receipts"`
				Next     *string          `json:"next_cursor"`
			}
			path := "/api/v1/receipts?connection=a&limit=3"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			if st := tg.api("GET", path, nil, &out); st != 200 {
				t.Fatalf("list = %d", st)
			}
			for _, r := range out.Receipts {
				ids = append(ids, r["id"].(string))
				if _, has := r["body"]; has {
					t.Fatal("list entries must not carry the body")
				}
			}
			if out.Next == nil {
				break
			}
			cursor = *out.Next
			if page > 5 {
				t.Fatal("paging does not end")
			}
		}
		if len(ids) != 7 {
			t.Fatalf("paged %d receipts, want 7", len(ids))
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] >= ids[i-1] {
				t.Fatalf("not newest first: %v", ids)
			}
		}
		var out struct{ Receipts []map[string]any }
		tg.api("GET", "/api/v1/receipts?connection=a&event_type=t1", nil, &out)
		if len(out.Receipts) != 3 {
			t.Errorf("event_type filter: %d", len(out.Receipts))
		}
		for _, bad := range []string{"status=bogus", "limit=0", "limit=x", "since=yesterday", "cursor=not-a-cursor!"} {
			var e map[string]any
			if st := tg.api("GET", "/api/v1/receipts?"+bad, nil, &e); st != 400 {
				t.Errorf("%s = %d", bad, st)
			}
		}
		if st := tg.api("GET", "/api/v1/receipts/does-not-exist", nil, nil); st != 404 {
			t.Errorf("missing receipt = %d", st)
		}
		if st := tg.api("POST", "/api/v1/receipts/does-not-exist/replay", nil, nil); st != 404 {
			t.Errorf("replay missing = %d", st)
		}
	})
}

// TestReceiptJSONShape pins the exact keys of SPEC §6 "Receipt JSON".
func TestReceiptJSONShape(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-Token, signing_secret: tok}
`)
		tg.post("/webhooks/internal/a", http.Header{"X-Token": {"tok"}}, []byte("{\"bin\":\"\xff\"}"))
		id := tg.receipts("a")[0].ID
		var got map[string]any
		tg.api("GET", "/api/v1/receipts/"+id, nil, &got)
		for _, k := range []string{"id", "connection", "connection_type", "event_type", "nonce", "idempotency_key", "status",
			"reason", "duplicate_of", "received_at", "headers", "body", "body_base64", "secret_id", "attempts", "history"} {
			if _, ok := got[k]; !ok {
				t.Errorf("missing key %q", k)
			}
		}
		if got["body"] != nil || got["body_base64"] != "eyJiaW4iOiL/In0=" {
			t.Errorf("non-UTF-8 body: body=%v body_base64=%v", got["body"], got["body_base64"])
		}
		if ts := got["received_at"].(string); len(ts) != len("2026-01-02T03:04:05.123456Z") || !strings.HasSuffix(ts, "Z") {
			t.Errorf("received_at = %q", ts)
		}
	})
}

func TestJobStatusPolling(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: sales, auth: api_key, path: /webhooks/sales-prospecting/summary, api_key: {value: key-1}, response: {status: 200, body: json}}
  - {type: internal, name: other, auth: api_key, api_key: {value: key-2}}
`)
	req, _ := http.NewRequest("POST", tg.ingest.URL+"/webhooks/sales-prospecting/summary", strings.NewReader(`{"account":"acme"}`))
	req.Header.Set("Authorization", "Bearer key-1")
	st, b := do(t, req)
	if st != 200 {
		t.Fatal(st, string(b))
	}
	id := tg.receipts("sales")[0].ID
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest("GET", tg.ingest.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		st, b := do(t, req)
		return st, string(b)
	}
	if st, b := get("/webhooks/sales-prospecting/summary/receipts/"+id, "key-1"); st != 200 || !strings.Contains(b, `"status":"filtered"`) {
		t.Fatalf("poll = %d %s", st, b)
	}
	if st, _ := get("/webhooks/sales-prospecting/summary/receipts/"+id, "wrong"); st != 401 {
		t.Errorf("poll with wrong key = %d", st)
	}
	if st, _ := get("/webhooks/internal/other/receipts/"+id, "key-2"); st != 404 {
		t.Errorf("poll through another connection = %d", st)
	}
}
