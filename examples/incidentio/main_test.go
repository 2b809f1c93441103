package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/gateway"
)

// signStandardWebhooks signs a body the way incident.io does (Standard
// Webhooks): base64(HMAC-SHA256(base64-decoded secret, id.timestamp.body)).
// It is written here from the specification, independently of hookgate.
func signStandardWebhooks(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", id, stamp)
	m.Write(body)
	return http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {stamp},
		"Webhook-Signature": {"v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))},
	}
}

type e2e struct {
	t        *testing.T
	gw       *gateway.Gateway
	srv      *httptest.Server
	mu       sync.Mutex
	announce []string
	n        int
}

func startExample(t *testing.T) *e2e {
	t.Setenv("INCIDENT_WEBHOOK_SECRET", DefaultSecret)
	t.Setenv("HOOKGATE_STORAGE_URL", "sqlite://"+filepath.Join(t.TempDir(), "hookgate.db"))
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t}
	logger := slog.New(slog.DiscardHandler)
	h := &LeadHandler{People: people, Logger: logger, Announce: func(msg string) {
		e.mu.Lock()
		e.announce = append(e.announce, msg)
		e.mu.Unlock()
	}}
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: logger, Handlers: map[string]hookgate.Sender{"incident-lead": h}})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	e.srv = httptest.NewServer(gw.Ingress())
	t.Cleanup(func() { e.srv.Close(); gw.Close() })
	return e
}

// post sends body signed with secret at ts and returns the answer.
func (e *e2e) post(secret string, ts time.Time, body string) (int, string) {
	e.t.Helper()
	e.n++
	h := signStandardWebhooks(e.t, secret, fmt.Sprintf("msg_test_%d", e.n), ts, []byte(body))
	req, _ := http.NewRequest("POST", e.srv.URL+"/webhooks/incident/lead", bytes.NewReader([]byte(body)))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *e2e) drain() {
	e.t.Helper()
	if _, err := e.gw.DispatchDue(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) announcements() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.announce...)
}

// latest returns the newest receipt of the connection.
func (e *e2e) latest() *hookgate.Receipt {
	e.t.Helper()
	rs, _, err := e.gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: "lead", Limit: 1})
	if err != nil || len(rs) == 0 {
		e.t.Fatalf("receipts: %v (%d)", err, len(rs))
	}
	r, err := e.gw.Store().Receipt(context.Background(), rs[0].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestEndToEnd(t *testing.T) {
	e := startExample(t)
	now := time.Now()

	// The lead is announced: 204 at once, the handler acts after dispatch.
	if st, b := e.post(DefaultSecret, now, incidentJSON("post-mortem", reporterAda+","+leadAda)); st != 204 || b != "" {
		t.Fatalf("lead delivery = %d %q, want 204 and no body", st, b)
	}
	e.drain()
	if got := e.announcements(); len(got) != 1 || got[0] != announcedAda {
		t.Fatalf("announcements = %q", got)
	}
	if r := e.latest(); r.Status != hookgate.StatusAcknowledged || r.EventType != EventUpdated {
		t.Fatalf("receipt: status %s, event type %q", r.Status, r.EventType)
	}

	// Triage and live are skipped on purpose by the route's filter: stored
	// as filtered at ingest, never dispatched, nothing announced.
	for _, status := range []string{"triage", "live"} {
		if st, _ := e.post(DefaultSecret, now, incidentJSON(status, leadAda)); st != 204 {
			t.Fatalf("%s delivery = %d", status, st)
		}
		if r := e.latest(); r.Status != hookgate.StatusFiltered || r.EventType != EventUpdated {
			t.Fatalf("%s receipt: %s %q", status, r.Status, r.EventType)
		}
	}
	e.drain()
	if got := e.announcements(); len(got) != 1 {
		t.Fatalf("triage or live was announced: %q", got)
	}
	if r := e.latest(); r.Status != hookgate.StatusFiltered || len(r.Attempts) != 0 {
		t.Fatalf("live receipt after dispatch: %s, %d attempts", r.Status, len(r.Attempts))
	}

	// The event type is right but the incident is missing: the route's
	// schema sends it to dead with the error, before the handler.
	if st, _ := e.post(DefaultSecret, now, `{"event_type":"public_incident.incident_updated_v2"}`); st != 204 {
		t.Fatalf("schema-invalid delivery = %d", st)
	}
	e.drain()
	if r := e.latest(); r.Status != hookgate.StatusDead || !strings.Contains(r.Reason, "validation_failed") || !strings.Contains(r.Reason, EventUpdated) {
		t.Fatalf("invalid receipt: status %s reason %q", r.Status, r.Reason)
	}

	// Another event type has no route: stored as filtered, never dispatched.
	if st, _ := e.post(DefaultSecret, now, `{"event_type":"public_incident.incident_created_v2"}`); st != 204 {
		t.Fatalf("other event = %d", st)
	}
	if r := e.latest(); r.Status != hookgate.StatusFiltered {
		t.Fatalf("other event receipt: %s", r.Status)
	}

	// A wrong secret is 401; a stale timestamp is 409. Neither reaches the handler.
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("not-the-incident-io-secret"))
	if st, b := e.post(other, now, incidentJSON("post-mortem", leadAda)); st != 401 || !strings.Contains(b, `"unauthorized"`) {
		t.Fatalf("bad signature = %d %s", st, b)
	}
	if st, _ := e.post(DefaultSecret, now.Add(-10*time.Minute), incidentJSON("post-mortem", leadAda)); st != 409 {
		t.Fatalf("stale timestamp = %d", st)
	}
	e.drain()
	if got := e.announcements(); len(got) != 1 {
		t.Fatalf("a rejected delivery reached the handler: %q", got)
	}
}
