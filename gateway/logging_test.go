package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// lockedBuffer is a log sink safe for the dispatcher's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFailedDeliveryLoggedAtWarn: a destination that fails (400, empty
// body) is logged at WARN, and its reason has no dangling colon.
func TestFailedDeliveryLoggedAtWarn(t *testing.T) {
	t.Parallel()
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer dest.Close()
	cfg, _, err := config.Parse([]byte(`
unsigned_forwarding: true
handlers: [{name: out, type: http, url: "` + dest.URL + `"}]
connections:
  - {type: github, name: gh, signing_secret: s, routes: [{handlers: [out]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hg.db")
	logs := &lockedBuffer{}
	gw, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	body := []byte(`{"a":1}`)
	m := hmac.New(sha256.New, []byte("s"))
	m.Write(body)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github/gh", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	rec := httptest.NewRecorder()
	gw.Ingress().ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("delivery answered %d", rec.Code)
	}
	if _, err := gw.Dispatcher().RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs, _, err := gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: "gh", Limit: 1})
	if err != nil || len(rs) != 1 || rs[0].Status != hookgate.StatusDead {
		t.Fatalf("receipt: %v %+v", err, rs)
	}
	if strings.HasSuffix(strings.TrimSpace(rs[0].Reason), ":") {
		t.Errorf("reason ends in a colon: %q", rs[0].Reason)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "receipt dispatched") {
			line = l
		}
	}
	if !strings.Contains(line, "level=WARN") {
		t.Fatalf("failed delivery not logged at WARN: %q\n%s", line, logs.String())
	}
}
