package ingress

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/verify"
)

// oneEndpoint is a Directory of a single secret-auth connection that routes
// every event, so an accepted delivery is a received receipt that would wake
// the dispatcher.
type oneEndpoint struct{ ep *Endpoint }

func (d oneEndpoint) Lookup(path string) (*Endpoint, error) {
	if path != d.ep.Conn.DefaultPath() {
		return nil, hookgate.Errorf(hookgate.ENotFound, "no connection at %s", path)
	}
	return d.ep, nil
}

func (oneEndpoint) Enabled() bool { return true }

// recorder is the Publisher: it keeps every transition ingress publishes.
type recorder struct {
	mu  sync.Mutex
	trs []hookgate.Transition
}

func (r *recorder) Publish(t hookgate.Transition) {
	r.mu.Lock()
	r.trs = append(r.trs, t)
	r.mu.Unlock()
}
func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.trs) }

// failingIngest is a working store whose durable write of a delivery fails,
// as a full disk or a lost database server would make it.
type failingIngest struct{ hookgate.Store }

var errDiskFull = errors.New("disk full")

func (failingIngest) Ingest(context.Context, *hookgate.Receipt, time.Duration) (hookgate.Transition, error) {
	return hookgate.Transition{}, errDiskFull
}

// ingressOn serves a Server on st over loopback and returns its URL, the
// events it publishes and how often it woke the dispatcher.
func ingressOn(t *testing.T, st hookgate.Store) (url string, events *recorder, notified *atomic.Int64) {
	t.Helper()
	v, err := verify.New(verify.Config{Auth: "secret", SignatureHeader: "X-Token", Secrets: []verify.Secret{{ID: "s1", Value: "tok"}}})
	if err != nil {
		t.Fatal(err)
	}
	conn := &hookgate.Connection{Type: "internal", Name: "c", Routes: []hookgate.Route{{Handlers: []string{"h"}}}}
	ep := &Endpoint{Conn: conn, Verifier: v, NonceHeader: "X-Nonce", NonceExplicit: true,
		MaxPayload: 1 << 20, IdempotencyTTL: time.Hour}
	events, notified = &recorder{}, &atomic.Int64{}
	s := &Server{
		Dir:    oneEndpoint{ep},
		Store:  st,
		Events: events,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    time.Now,
		NewID:  func() string { return uuid.Must(uuid.NewV7()).String() },
		Notify: func() { notified.Add(1) },
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + conn.DefaultPath(), events, notified
}

func deliver(t *testing.T, url, nonce string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"type":"order.paid"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Token", "tok")
	req.Header.Set("X-Nonce", nonce)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func openSQLite(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookgate.db")
	db, err := store.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// TestFailedWriteAnswers503 is SPEC §2 check 11, the product's first promise:
// when the durable write fails the answer is 503 with Retry-After and the
// JSON error body, never 2xx, and nothing is published or dispatched.
func TestFailedWriteAnswers503(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// broken returns a store whose Ingest fails, and a check that
		// nothing was written (nil when the store cannot be read).
		broken func(t *testing.T) (hookgate.Store, func(t *testing.T))
	}{
		{"interface", func(t *testing.T) (hookgate.Store, func(*testing.T)) {
			db, _ := openSQLite(t)
			return failingIngest{db}, func(t *testing.T) { assertNoReceipts(t, db) }
		}},
		{"sqlite closed", func(t *testing.T) (hookgate.Store, func(*testing.T)) {
			db, _ := openSQLite(t)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return db, nil
		}},
		{"sqlite write refused", func(t *testing.T) (hookgate.Store, func(*testing.T)) {
			// The database stays open and readable; every insert of a receipt
			// fails inside SQLite, as a full disk or an I/O error would.
			db, path := openSQLite(t)
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`CREATE TRIGGER refuse_receipts BEFORE INSERT ON receipts
				BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
				t.Fatal(err)
			}
			return db, func(t *testing.T) { assertNoReceipts(t, db) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, nothingWritten := tt.broken(t)
			url, events, notified := ingressOn(t, st)
			resp, body := deliver(t, url, "n1")
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("a failed durable write answered %d %s, want 503", resp.StatusCode, body)
			}
			if ra := resp.Header.Get("Retry-After"); ra == "" {
				t.Error("503 without Retry-After")
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var e map[string]string
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %q", body)
			}
			if len(e) != 2 || e["error"] != hookgate.EUnavailable || e["message"] == "" {
				t.Errorf("error body = %s, want {\"error\":%q,\"message\":…}", body, hookgate.EUnavailable)
			}
			if strings.Contains(string(body), "disk") || strings.Contains(string(body), "tok") {
				t.Errorf("error body leaks the cause or a secret: %s", body)
			}
			if n := events.count(); n != 0 {
				t.Errorf("%d transitions published for a receipt that was not stored", n)
			}
			if n := notified.Load(); n != 0 {
				t.Errorf("dispatcher woken %d times for a receipt that was not stored", n)
			}
			if nothingWritten != nil {
				nothingWritten(t)
			}
		})
	}
}

// TestHealthyWriteAnswers204 is the control of TestFailedWriteAnswers503: the
// same server on a working store answers 204, publishes the transition and
// wakes the dispatcher once, so the counters there can see what they count.
func TestHealthyWriteAnswers204(t *testing.T) {
	t.Parallel()
	db, _ := openSQLite(t)
	url, events, notified := ingressOn(t, db)
	if resp, body := deliver(t, url, "n1"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("answer = %d %s", resp.StatusCode, body)
	}
	if events.count() != 1 || notified.Load() != 1 {
		t.Fatalf("published %d, notified %d; want 1 and 1", events.count(), notified.Load())
	}
	rs, _, err := db.Receipts(context.Background(), hookgate.ReceiptFilter{})
	if err != nil || len(rs) != 1 || rs[0].Status != hookgate.StatusReceived {
		t.Fatalf("receipts = %+v, %v", rs, err)
	}
}

func assertNoReceipts(t *testing.T, st hookgate.Store) {
	t.Helper()
	rs, _, err := st.Receipts(context.Background(), hookgate.ReceiptFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Fatalf("a failed write left %d receipts, first %+v", len(rs), rs[0])
	}
}
