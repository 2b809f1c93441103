package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/store"
)

// expecting is a real store that counts the announcements ingress makes
// (hookgate.Expecter) and checks that Ingest gets the announced context.
type expecting struct {
	hookgate.Store
	announced, ended, withContext atomic.Int64
}

type announcedKey struct{}

func (e *expecting) Expect(ctx context.Context) (context.Context, func()) {
	e.announced.Add(1)
	var once atomic.Bool
	return context.WithValue(ctx, announcedKey{}, true), func() {
		if once.CompareAndSwap(false, true) {
			e.ended.Add(1)
		}
	}
}

func (e *expecting) Ingest(ctx context.Context, r *hookgate.Receipt, ttl time.Duration) (hookgate.Transition, error) {
	if ctx.Value(announcedKey{}) != nil {
		e.withContext.Add(1)
	}
	return e.Store.Ingest(ctx, r, ttl)
}

// TestIngressAnnouncesDeliveries: every delivery that reaches a connection is
// announced to a grouping store before its body is read, its ingest carries
// the announcement, and the announcement ends however the delivery is
// answered (204, 401), so a group commit never waits for a delivery that is
// gone. A request for no connection is not announced.
func TestIngressAnnouncesDeliveries(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, _, err := config.Parse([]byte("connections:\n  - {type: github, name: gh, signing_secret: s3cret}\n"))
	if err != nil {
		t.Fatal(err)
	}
	es := &expecting{Store: st}
	gw, err := New(context.Background(), cfg, Options{Store: es})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ts := httptest.NewServer(gw.Ingress())
	t.Cleanup(ts.Close)
	srv := ts.URL

	post := func(path, secret string) int {
		body := []byte(`{"ref":"refs/heads/main"}`)
		req, _ := http.NewRequest(http.MethodPost, srv+path, bytes.NewReader(body))
		req.Header = githubHeaders(secret, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/webhooks/github/gh", "s3cret"); code != http.StatusNoContent {
		t.Fatalf("signed delivery = %d", code)
	}
	if code := post("/webhooks/github/gh", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("badly signed delivery = %d", code)
	}
	if code := post("/webhooks/github/nobody", "s3cret"); code != http.StatusNotFound {
		t.Fatalf("unknown connection = %d", code)
	}
	if a, e, w := es.announced.Load(), es.ended.Load(), es.withContext.Load(); a != 2 || e != 2 || w != 1 {
		t.Errorf("announced %d, ended %d, ingests with the announcement %d; want 2, 2, 1", a, e, w)
	}
}
