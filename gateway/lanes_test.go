package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHangingDestinationDelaysOnlyItsOwnDeliveries: an http handler whose
// destination never answers (until the test ends) has 300 deliveries queued;
// a delivery on another connection, for another handler, arrives promptly,
// whether the hanging handler sets a concurrency (and a rate limit) or takes
// the default share.
func TestHangingDestinationDelaysOnlyItsOwnDeliveries(t *testing.T) {
	for _, tt := range []struct{ name, concurrency string }{
		{"concurrency", "concurrency: 4,"},
		{"default share", ""},
		// Deliveries over the rate wait in the queue, not in a worker.
		{"rate limit", "concurrency: 4, rate_limit: 50,"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backends(t, func(t *testing.T, storage func(testing.TB) string) {
				hang := make(chan struct{})
				slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-hang:
					case <-r.Context().Done():
					}
				}))
				defer slow.Close()
				arrived := make(chan string, 1)
				fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					select {
					case arrived <- r.Header.Get("Hookgate-Receipt-Id"):
					default:
					}
				}))
				defer fast.Close()
				tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
dispatch: {workers: 8, poll_interval: 50ms}
unsigned_forwarding: true
handlers:
  - {name: slow, type: http, url: %q, %s timeout: 1h}
  - {name: fast, type: http, url: %q, timeout: 10s}
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [slow]}]}
  - {type: internal, name: b, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [fast]}]}
`, slow.URL, tt.concurrency, fast.URL))
				for i := range 300 {
					if st, b := tg.post("/webhooks/internal/a", http.Header{"X-Token": {"tok"}, "X-Nonce": {fmt.Sprint("a", i)}}, []byte(`{}`)); st != 204 {
						t.Fatalf("deliver to a = %d %s", st, b)
					}
				}
				if st, b := tg.post("/webhooks/internal/b", http.Header{"X-Token": {"tok"}, "X-Nonce": {"b"}}, []byte(`{}`)); st != 204 {
					t.Fatalf("deliver to b = %d %s", st, b)
				}
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan error, 1)
				go func() { stopped <- tg.Dispatcher().Run(ctx) }()
				defer func() {
					close(hang) // the hanging deliveries end, so Run can return
					cancel()
					<-stopped
				}()
				start := time.Now()
				select {
				case <-arrived:
					t.Logf("b's delivery arrived %v after dispatch started, with a hanging destination and 300 deliveries queued for it",
						time.Since(start).Round(time.Millisecond))
				case <-time.After(10 * time.Second):
					t.Fatal("b's delivery did not arrive within 10 s: a hanging destination stalls the others")
				}
			})
		})
	}
}

// TestDispatchSettingsChecked: a negative concurrency and a lease too short
// to renew are refused by serve and config check alike; a concurrency is
// accepted.
func TestDispatchSettingsChecked(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"concurrency", "handlers: [{name: h, type: log, concurrency: 4}]", ""},
		{"negative concurrency", "handlers: [{name: h, type: log, concurrency: -1}]", "concurrency must not be negative"},
		{"short lease", "dispatch: {lease: 500ms}", "dispatch.lease 500ms is too short"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkYAML(t, tt.yaml)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
