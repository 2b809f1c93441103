package ingress

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// countingSync is a SyncRunner that answers reply and counts its slots.
type countingSync struct {
	taken, given atomic.Int64
	runs         atomic.Int64
	reply        hookgate.Reply
}

func (c *countingSync) Acquire() bool { c.taken.Add(1); return true }
func (c *countingSync) Release()      { c.given.Add(1) }
func (c *countingSync) Lease(now time.Time) (string, time.Time) {
	return "test-owner", now.Add(time.Minute)
}
func (c *countingSync) Run(*hookgate.Receipt, time.Duration, string) (hookgate.Reply, bool) {
	c.runs.Add(1)
	c.given.Add(1)
	return c.reply, true
}

// failingLeased is a working store whose leased ingest fails.
type failingLeased struct{ hookgate.Store }

func (failingLeased) IngestLeased(context.Context, *hookgate.Receipt, time.Duration, string, time.Time) ([]hookgate.Transition, error) {
	return nil, errDiskFull
}

func syncServer(t *testing.T, st hookgate.Store, sr SyncRunner) string {
	t.Helper()
	v, err := verify.New(verify.Config{Auth: "secret", SignatureHeader: "X-Token", Secrets: []verify.Secret{{ID: "s1", Value: "tok"}}})
	if err != nil {
		t.Fatal(err)
	}
	conn := &hookgate.Connection{Type: "internal", Name: "c", Routes: []hookgate.Route{{Mode: hookgate.ModeSync, Handlers: []string{"h"}}}}
	ep := &Endpoint{Conn: conn, Verifier: v, NonceHeader: "X-Nonce", NonceExplicit: true,
		MaxPayload: 1 << 20, IdempotencyTTL: time.Hour, Sync: true, SyncTimeout: time.Second}
	s := &Server{Dir: oneEndpoint{ep}, Store: st, Events: &recorder{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: time.Now, NewID: func() string { return uuid.Must(uuid.NewV7()).String() }, Sync: sr}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + conn.DefaultPath()
}

// TestSyncStorageFailure: a sync delivery whose durable write fails is 503
// with Retry-After and the JSON error, its handlers never run, and its slot
// is given back.
func TestSyncStorageFailure(t *testing.T) {
	db, _ := openSQLite(t)
	sr := &countingSync{}
	url := syncServer(t, failingLeased{db}, sr)
	resp, b := deliver(t, url, "n1")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
	var e struct{ Error, Message string }
	if json.Unmarshal(b, &e) != nil || e.Error != hookgate.EUnavailable {
		t.Fatalf("error body %s", b)
	}
	if sr.runs.Load() != 0 || sr.taken.Load() != sr.given.Load() {
		t.Fatalf("runs %d, slots taken %d given back %d", sr.runs.Load(), sr.taken.Load(), sr.given.Load())
	}
}

// TestSyncDuplicateAnswersUsual: a duplicate of a sync delivery is not run
// again; it gets the usual answer and its slot back.
func TestSyncDuplicateAnswersUsual(t *testing.T) {
	db, _ := openSQLite(t)
	sr := &countingSync{reply: hookgate.Reply{StatusCode: 200, Body: []byte("first")}}
	url := syncServer(t, db, sr)
	if resp, b := deliver(t, url, "same"); resp.StatusCode != 200 || string(b) != "first" {
		t.Fatalf("first answer %d %q", resp.StatusCode, b)
	}
	if resp, b := deliver(t, url, "same"); resp.StatusCode != 204 || len(b) != 0 {
		t.Fatalf("duplicate answered %d %q, want the usual 204", resp.StatusCode, b)
	}
	if sr.runs.Load() != 1 || sr.taken.Load() != sr.given.Load() {
		t.Fatalf("runs %d, slots taken %d given back %d", sr.runs.Load(), sr.taken.Load(), sr.given.Load())
	}
}

// TestWriteReplyBounds: the status of a reply is kept when 2xx and 200
// otherwise; an invalid or missing content type is replaced, never sniffed;
// a 204 carries no body.
func TestWriteReplyBounds(t *testing.T) {
	for _, c := range []struct {
		reply    hookgate.Reply
		status   int
		ct, body string
	}{
		{hookgate.Reply{StatusCode: 201, ContentType: "text/xml", Body: []byte("<R/>")}, 201, "text/xml", "<R/>"},
		{hookgate.Reply{StatusCode: 0, Body: []byte("[accepted]")}, 200, "text/plain; charset=utf-8", "[accepted]"},
		{hookgate.Reply{StatusCode: 302, ContentType: "text/html", Body: []byte("x")}, 200, "text/html", "x"},
		{hookgate.Reply{StatusCode: 200, ContentType: "not a/type;;", Body: []byte{0xff, 0x00}}, 200, "application/octet-stream", "\xff\x00"},
		{hookgate.Reply{StatusCode: 204, ContentType: "text/plain", Body: []byte("dropped")}, 204, "", ""},
	} {
		w := httptest.NewRecorder()
		writeReply(w, "rid", c.reply)
		if w.Code != c.status || w.Header().Get("Content-Type") != c.ct || w.Body.String() != c.body ||
			w.Header().Get("Hookgate-Receipt-Id") != "rid" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%+v: %d %q %q %v", c.reply, w.Code, w.Header().Get("Content-Type"), w.Body.String(), w.Header())
		}
	}
}
