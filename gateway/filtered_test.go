package gateway

import (
	"net/http"
	"testing"

	"github.com/hookgate/hookgate"
)

// TestFilteredReceiptsSayWhy: a receipt no route takes is filtered with the
// reason "no route for event type X", whether that is decided at ingest or
// when it is dispatched after its connection's routes changed.
func TestFilteredReceiptsSayWhy(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "handlers: [{name: audit, type: log}]\n")
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "internal", "name": "svc", "auth": "secret",
		"signature_header": "X-Token", "signing_secret": "tok", "nonce_header": "X-Nonce", "event_type": "body:type",
		"routes": []any{map[string]any{"events": []string{"order.*"}, "handlers": []string{"audit"}}}}, nil); st != 201 {
		t.Fatalf("create = %d", st)
	}
	send := func(nonce, body string) string {
		t.Helper()
		if st, b := tg.post("/webhooks/internal/svc", http.Header{"X-Token": {"tok"}, "X-Nonce": {nonce}}, []byte(body)); st != 204 {
			t.Fatalf("deliver = %d %s", st, b)
		}
		for _, r := range tg.receipts("svc") {
			if r.Nonce == nonce {
				return r.ID
			}
		}
		t.Fatal("receipt not found")
		return ""
	}
	reason := func(id string) (hookgate.Status, any) {
		var got map[string]any
		tg.api("GET", "/api/v1/receipts/"+id, nil, &got)
		return hookgate.Status(got["status"].(string)), got["reason"]
	}
	// At ingest.
	id := send("n-1", `{"type":"ping"}`)
	if st, r := reason(id); st != hookgate.StatusFiltered || r != `no route for event type "ping"` {
		t.Errorf("ingest: status %s, reason %v", st, r)
	}
	// At dispatch: held while paused, then no route takes it any more.
	if st := tg.api("PATCH", "/api/v1/connections/internal/svc", map[string]any{"paused": true}, nil); st != 200 {
		t.Fatalf("pause = %d", st)
	}
	id = send("n-2", `{"type":"order.created"}`)
	if st := tg.api("PATCH", "/api/v1/connections/internal/svc", map[string]any{"paused": false,
		"routes": []any{map[string]any{"events": []string{"invoice.*"}, "handlers": []string{"audit"}}}}, nil); st != 200 {
		t.Fatalf("unpause = %d", st)
	}
	tg.drain()
	if st, r := reason(id); st != hookgate.StatusFiltered || r != `no route for event type "order.created"` {
		t.Errorf("dispatch: status %s, reason %v", st, r)
	}
}
