package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
	"github.com/hookgate/hookgate/gateway"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type e2e struct {
	t       *testing.T
	gw      *gateway.Gateway
	srv     *httptest.Server
	clock   *clock
	handler *AlertHandler
}

func startExample(t *testing.T) *e2e {
	t.Helper()
	t.Setenv("HOOKGATE_STORAGE_URL", "sqlite://"+filepath.Join(t.TempDir(), "hookgate.db"))
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	logger := slog.New(slog.DiscardHandler)
	h := newAlertHandler(logger)
	gw, err := gateway.New(context.Background(), buildConfig(demoIntegrations()), gateway.Options{Logger: logger, Now: clk.Now,
		Handlers: map[string]hookgate.Sender{alertHandlerName: h}})
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, gw: gw, srv: httptest.NewServer(gw.Ingress()), clock: clk, handler: h}
	t.Cleanup(func() { e.srv.Close(); gw.Close() })
	return e
}

// sign is the seed's recipe over the raw bytes sent: "sha256=" + hex HMAC-SHA256.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (e *e2e) post(path string, h http.Header, body string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader([]byte(body)))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// alert posts a body to a Datadog integration, signed and stamped at ts.
func (e *e2e) alert(integration, secret string, ts time.Time, body string) (int, []byte) {
	e.t.Helper()
	h := http.Header{
		"X-Signature": {sign(secret, []byte(body))},
		"X-Timestamp": {strconv.FormatInt(ts.Unix(), 10)},
	}
	return e.post("/webhooks/datadog/"+integration, h, body)
}

func (e *e2e) drain() {
	e.t.Helper()
	if _, err := e.gw.DispatchDue(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) receipt(id string) *hookgate.Receipt {
	e.t.Helper()
	r, err := e.gw.Store().Receipt(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// accepted posts an alert that must be accepted, checks the seed's
// SuccessResponse (data: integration_id and alert_id) and returns the
// receipt id.
func (e *e2e) accepted(integration, secret, body string) string {
	t := e.t
	t.Helper()
	st, b := e.alert(integration, secret, e.clock.Now(), body)
	var out struct {
		Success bool              `json:"success"`
		Message string            `json:"message"`
		Data    map[string]string `json:"data"`
	}
	var in struct{ ID string }
	_ = json.Unmarshal([]byte(body), &in)
	want := map[string]string{"integration_id": integration, "alert_id": in.ID}
	if st != 200 || json.Unmarshal(b, &out) != nil || !out.Success || out.Message != "Webhook received successfully" || !reflect.DeepEqual(out.Data, want) {
		t.Fatalf("answer = %d %s, want 200 with success true and data %v", st, b, want)
	}
	return e.latest(integration).ID
}

// latest is the newest receipt of an integration.
func (e *e2e) latest(integration string) *hookgate.Receipt {
	e.t.Helper()
	rs, _, err := e.gw.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: integration, Limit: 1})
	if err != nil || len(rs) == 0 {
		e.t.Fatalf("receipts of %s: %v (%d)", integration, err, len(rs))
	}
	return e.receipt(rs[0].ID)
}

const ddSecret = "dd-prod-webhook-secret"

func TestEndToEnd(t *testing.T) {
	e := startExample(t)
	now := e.clock.Now()
	valid := `{"id":"alert-456","alert_name":"Test Alert","alert_type":"error","alert_status":"triggered","severity":"high","tags":["env:prod"]}`

	if st, b := e.alert("no-such-integration", ddSecret, now, valid); st != 404 || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("unknown integration = %d %s, want 404", st, b)
	}
	if st, b := e.alert("grafana-main", "grafana-webhook-secret", now, valid); st != 400 {
		t.Fatalf("grafana integration under /webhooks/datadog = %d %s, want 400", st, b)
	}
	if st, _ := e.alert("dd-prod", "not-the-secret", now, valid); st != 401 {
		t.Fatalf("bad signature = %d, want 401", st)
	}
	if st, _ := e.alert("dd-prod", ddSecret, now.Add(-6*time.Minute), valid); st != 409 {
		t.Fatalf("stale X-Timestamp = %d, want 409", st)
	}
	if st, _ := e.post("/webhooks/datadog/dd-prod", http.Header{"X-Signature": {sign(ddSecret, []byte(valid))}}, valid); st != 401 {
		t.Fatalf("missing X-Timestamp = %d, want 401", st)
	}

	id := e.accepted("dd-prod", ddSecret, valid)
	if got := e.handler.Incidents.ByExternalID("alert-456"); len(got) != 0 {
		t.Fatal("the incident must be created in the background, after the answer")
	}
	e.drain()
	got := e.handler.Incidents.ByExternalID("alert-456")
	if len(got) != 1 || got[0].Title != "Test Alert" || got[0].Severity != SeverityHigh || got[0].Status != StatusInvestigating || got[0].IntegrationID != "dd-prod" {
		t.Fatalf("incidents = %+v", got)
	}
	if r := e.receipt(id); r.Status != hookgate.StatusAcknowledged || r.EventType != "error" {
		t.Fatalf("receipt: %s %q", r.Status, r.EventType)
	}

	// The same alert again, even with other bytes, is a duplicate by its
	// id: answered 200 as before, no second incident.
	resent := `{"id":"alert-456","alert_name":"Test Alert","alert_type":"error","alert_status":"triggered","severity":"high","tags":["env:prod"],"message":"resent"}`
	e.accepted("dd-prod", ddSecret, resent)
	if r := e.latest("dd-prod"); r.Status != hookgate.StatusDuplicate || r.DuplicateOf != id {
		t.Fatalf("resent alert: %s (duplicate of %q), want a duplicate of %s", r.Status, r.DuplicateOf, id)
	}
	e.drain()
	if got := e.handler.Incidents.ByExternalID("alert-456"); len(got) != 1 {
		t.Fatalf("a duplicate alert made another incident: %+v", got)
	}

	// The seed's own example payloads carry no alert_status: accepted.
	for _, body := range []string{
		`{"id":"123","alert_name":"Test Alert","alert_type":"error","severity":"high"}`,
		`{"id":"alert-123","alert_name":"High CPU Usage","alert_type":"error","severity":"critical","message":"CPU usage above 90%"}`,
	} {
		e.accepted("dd-prod", ddSecret, body)
	}
	e.drain()
	if got := e.handler.Incidents.ByExternalID("alert-123"); len(got) != 1 || got[0].Severity != SeverityCritical || got[0].Description != "CPU usage above 90%" {
		t.Fatalf("seed example incident = %+v", got)
	}

	// An invalid alert is refused at the door with every error, recorded
	// as rejected, and never dispatched.
	bad := `{"id":"alert-789","alert_name":"Disk","alert_type":"error","alert_status":"triggered","severity":"urgent","link":"javascript:alert(1)"}`
	st, b := e.alert("dd-staging", "dd-staging-webhook-secret", now, bad)
	var refused struct {
		Error   string
		Message string
		Errors  []struct{ Path, Message string }
	}
	if err := json.Unmarshal(b, &refused); st != 400 || err != nil || refused.Error != "validation_failed" || len(refused.Errors) != 2 {
		t.Fatalf("invalid alert = %d %s, want 400 validation_failed with 2 errors", st, b)
	}
	paths := []string{refused.Errors[0].Path, refused.Errors[1].Path}
	if !(paths[0] == "/link" && paths[1] == "/severity" || paths[0] == "/severity" && paths[1] == "/link") {
		t.Fatalf("error paths = %q, want /severity and /link", paths)
	}
	r := e.latest("dd-staging")
	if r.Status != hookgate.StatusRejected || r.Reason != "validation_failed" || !strings.Contains(string(r.Trace), "/severity") {
		t.Fatalf("invalid alert receipt: %s %q %s", r.Status, r.Reason, r.Trace)
	}
	e.drain()
	if len(e.handler.Incidents.ByExternalID("alert-789")) != 0 {
		t.Fatal("an invalid alert made an incident")
	}
}

// TestCircuitBreaker: ten failures in a row open the handler's circuit
// (hookgate's, SPEC §4.2); its alerts are kept and wait an hour without
// spending an attempt, then one goes and its success closes the circuit.
// Invalid alerts are refused at the door, so the failures are the seed's
// other kind: the incident table (its database) is down.
func TestCircuitBreaker(t *testing.T) {
	e := startExample(t)
	e.handler.Incidents.SetUnavailable(errors.New("database is down"))
	for i := range 10 {
		body := `{"id":"x` + strconv.Itoa(i) + `","alert_name":"n","alert_type":"error"}`
		e.accepted("dd-prod", ddSecret, body)
		e.drain()
	}
	e.drain()
	e.handler.Incidents.SetUnavailable(nil)
	if st := e.circuit(); st.State != "open" || st.ConsecutiveFailures != 10 {
		t.Fatalf("after 10 failures the circuit is %+v, want open", st)
	}
	valid := `{"id":"alert-1","alert_name":"Recovered?","alert_type":"error","alert_status":"triggered"}`
	id := e.accepted("dd-staging", "dd-staging-webhook-secret", valid)
	e.drain()
	if r := e.receipt(id); r.Status != hookgate.StatusReceived || !strings.Contains(r.Reason, "circuit is open") || len(r.Attempts) != 0 {
		t.Fatalf("while open: %s %q, %d attempts", r.Status, r.Reason, len(r.Attempts))
	}
	e.clock.Add(time.Hour)
	e.drain()
	if r := e.receipt(id); r.Status != hookgate.StatusAcknowledged {
		t.Fatalf("after the reset timeout: %s %q", r.Status, r.Reason)
	}
	if st := e.circuit(); st.State != "closed" || len(e.handler.Incidents.ByExternalID("alert-1")) != 1 {
		t.Fatalf("the half-open success should close the circuit (%+v) and create the incident", st)
	}
}

// circuit is the alert handler's circuit as the admin API shows it.
func (e *e2e) circuit() admin.CircuitInfo {
	e.t.Helper()
	for _, h := range e.gw.Handlers() {
		if h.Name == alertHandlerName {
			return h.Circuit
		}
	}
	e.t.Fatalf("no handler %s", alertHandlerName)
	return admin.CircuitInfo{}
}
