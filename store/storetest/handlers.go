package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// testHandlers: run-time handlers are stored with their signing secret,
// names are unique, and update and delete find them by name.
func testHandlers(t *testing.T, s hookgate.Store) {
	ctx := context.Background()
	if hs, err := s.Handlers(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("empty store: %v %v", hs, err)
	}
	h := &hookgate.HandlerConfig{Name: "notify", Type: "http", URL: "http://10.0.0.5:9000/hook",
		Headers: map[string]string{"Authorization": "Bearer dest-token"}, Timeout: hookgate.Duration(3 * time.Second),
		SigningSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Concurrency: 4,
		Retry: &hookgate.RetryPolicy{MaxAttempts: 3}}
	if err := s.CreateHandler(ctx, h); err != nil {
		t.Fatal(err)
	}
	other := &hookgate.HandlerConfig{Name: "audit", Type: "http", URL: "http://10.0.0.6/"}
	if err := s.CreateHandler(ctx, other); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CreateHandler(ctx, &hookgate.HandlerConfig{Name: "notify", Type: "http", URL: "http://10.0.0.7/"}), hookgate.EConflict)
	wantCode(t, s.CreateHandler(ctx, &hookgate.HandlerConfig{Name: "nameless"}), hookgate.EInvalid)
	hs, err := s.Handlers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || !reflect.DeepEqual(hs[0], other) || !reflect.DeepEqual(hs[1], h) {
		t.Fatalf("handlers = %+v %+v, want %+v %+v", hs[0], hs[1], other, h)
	}
	h.URL, h.SigningSecret = "http://10.0.0.8/new", "another-secret"
	if err := s.UpdateHandler(ctx, h); err != nil {
		t.Fatal(err)
	}
	hs, _ = s.Handlers(ctx)
	if len(hs) != 2 || !reflect.DeepEqual(hs[1], h) {
		t.Errorf("after update: %+v", hs[1])
	}
	wantCode(t, s.UpdateHandler(ctx, &hookgate.HandlerConfig{Name: "nobody", Type: "http"}), hookgate.ENotFound)
	wantCode(t, s.DeleteHandler(ctx, "nobody"), hookgate.ENotFound)
	if err := s.DeleteHandler(ctx, "notify"); err != nil {
		t.Fatal(err)
	}
	hs, _ = s.Handlers(ctx)
	if len(hs) != 1 || hs[0].Name != "audit" {
		t.Errorf("after delete: %+v", hs)
	}
	if err := s.CreateHandler(ctx, &hookgate.HandlerConfig{Name: "notify", Type: "http", URL: "http://10.0.0.9/"}); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
	// Handlers and connections are separate namespaces.
	if err := s.CreateConnection(ctx, &hookgate.Connection{Type: "github", Name: "notify"}); err != nil {
		t.Errorf("a connection named like a handler: %v", err)
	}
}
