// Package admin is the admin API of SPEC §6 on its own listener: connections,
// receipts, replay, the live event stream, health, and the OpenAPI document.
// Every route is in one table, RouteTable, that Routes registers.
package admin

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/events"
	"github.com/hookgate/hookgate/metrics"
	"github.com/hookgate/hookgate/secrets"
	"github.com/hookgate/hookgate/verify"
)

// Gateway is what the admin API manages; *gateway.Gateway implements it.
type Gateway interface {
	Store() hookgate.Store
	Events() *events.Bus
	Connections() []*hookgate.Connection
	Connection(typ, name string) (*hookgate.Connection, error)
	AddConnection(ctx context.Context, c *hookgate.Connection) error
	UpdateConnection(ctx context.Context, c *hookgate.Connection) error
	DeleteConnection(ctx context.Context, typ, name string) error
	Replay(ctx context.Context, id string) (hookgate.Transition, error)
	Admit(ctx context.Context, id string) (hookgate.Transition, *verify.Trace, error)
	AddSecret(ctx context.Context, typ, name, secret string) (string, error)
	RetireSecret(ctx context.Context, typ, name, id string) error
	// Fingerprint is the keyed fingerprint the API shows of a secret.
	Fingerprint(secret string) string
	// RotateKey replaces the key that seals stored secrets (SPEC §9).
	RotateKey(ctx context.Context) (secrets.Rotation, error)
	Handlers() []HandlerInfo
	// ResetCircuit closes a handler's circuit by hand (ENotFound for an
	// unknown handler).
	ResetCircuit(ctx context.Context, name string) (HandlerInfo, error)
	// CircuitEvents is the feed of circuit moves for the live stream.
	CircuitEvents() *events.CircuitFeed
	// Handler returns one handler, signing secret included (shown only by
	// fingerprint), and its source (HandlerInfo.Source).
	Handler(name string) (hookgate.HandlerConfig, string, error)
	// AddHandler, UpdateHandler and DeleteHandler manage the handlers made
	// at run time (SPEC §6); the others are read-only (EReadOnly).
	AddHandler(ctx context.Context, h *hookgate.HandlerConfig) error
	UpdateHandler(ctx context.Context, h *hookgate.HandlerConfig) error
	DeleteHandler(ctx context.Context, name string) error
	Metrics() *metrics.Metrics
}

// HandlerInfo describes a configured handler.
type HandlerInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Source is where the handler is defined: "file", "code" (a Go
	// handler), "api" (made at run time, stored) or "builtin" (log).
	Source string `json:"source"`
	// ReadOnly is true for every handler but those made through the API.
	ReadOnly bool        `json:"read_only"`
	Circuit  CircuitInfo `json:"circuit"`
}

// API serves the admin routes.
type API struct {
	GW     Gateway
	Token  string // empty: no token required (loopback-only listeners)
	Logger *slog.Logger
	// AllowedHosts are the host names, besides localhost and the listener's
	// own addresses, that requests may name in Host (admin.allowed_hosts).
	AllowedHosts []string
	// Browser, when set, serves the dashboard at / and lets its sessions
	// use the API (browser.go).
	Browser Browser

	refused    atomic.Int64   // requests the guard turned away
	refusedLog rate.Sometimes // bounds the log lines about them
}

//go:embed openapi.json
var openAPI []byte

// Route is one admin route: the method and the ServeMux path pattern it is
// served at, as the OpenAPI document names it, and what serves it.
type Route struct {
	Method  string
	Pattern string
	Handler http.Handler
}

// RouteTable is every admin route, the one list Routes registers and the
// OpenAPI test compares with the document both ways.
func (a *API) RouteTable() []Route {
	f := func(method, pattern string, h http.HandlerFunc) Route { return Route{method, pattern, h} }
	return []Route{
		f("GET", "/healthz", a.healthz),
		f("GET", "/readyz", a.readyz),
		f("GET", "/api/openapi.json", a.openapi),
		{"GET", "/metrics", a.GW.Metrics().Handler()},
		f("POST", "/api/v1/connections", a.createConnection),
		f("GET", "/api/v1/connections", a.listConnections),
		f("GET", "/api/v1/connections/{type}/{name}", a.getConnection),
		f("PATCH", "/api/v1/connections/{type}/{name}", a.patchConnection),
		f("DELETE", "/api/v1/connections/{type}/{name}", a.deleteConnection),
		f("POST", "/api/v1/connections/{type}/{name}/secrets", a.addSecret),
		f("DELETE", "/api/v1/connections/{type}/{name}/secrets/{id}", a.retireSecret),
		f("POST", "/api/v1/connections/{type}/{name}/test", a.testConnection),
		f("GET", "/api/v1/receipts", a.listReceipts),
		f("GET", "/api/v1/receipts/{id}", a.getReceipt),
		f("POST", "/api/v1/receipts/replay", a.replayReceipts),
		f("POST", "/api/v1/receipts/{id}/replay", a.replayReceipt),
		f("POST", "/api/v1/receipts/{id}/admit", a.admitReceipt),
		f("GET", "/api/v1/handlers", a.listHandlers),
		f("POST", "/api/v1/backfill", a.runBackfill),
		f("POST", "/api/v1/handlers/{name}/reset", a.resetHandler),
		f("POST", "/api/v1/handlers", a.createHandler),
		f("GET", "/api/v1/handlers/{name}", a.getHandler),
		f("PATCH", "/api/v1/handlers/{name}", a.patchHandler),
		f("DELETE", "/api/v1/handlers/{name}", a.deleteHandler),
		f("POST", "/api/v1/secrets/rotate-key", a.rotateKey),
		f("GET", "/api/v1/events", a.streamEvents),
	}
}

// Routes returns the admin handler.
func (a *API) Routes() http.Handler {
	a.refusedLog.First, a.refusedLog.Interval = refusalLogFirst, refusalLogInterval
	mux := http.NewServeMux()
	for _, rt := range a.RouteTable() {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	if a.Browser != nil {
		a.Browser.Mount(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, hookgate.Errorf(hookgate.ENotFound, "no admin route %s %s", r.Method, r.URL.Path))
	})
	return a.guard(a.authenticate(mux))
}

// Error writes err as the JSON error body of SPEC §2 with its status.
func Error(w http.ResponseWriter, err error) {
	writeJSON(w, hookgate.ErrorStatus(err), map[string]string{"error": hookgate.ErrorCode(err), "message": hookgate.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.GW.Store().Ping(ctx); err != nil {
		a.Logger.Warn("readiness: storage unavailable", "err", err)
		if hookgate.ErrorCode(err) == hookgate.EUnavailable {
			Error(w, err) // the store's message says why, in words safe to show
			return
		}
		Error(w, hookgate.Errorf(hookgate.EUnavailable, "storage does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 1 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeFrom(http.MaxBytesReader(w, r.Body, maxAdminBody), v)
}

// decodeFrom decodes one JSON object from rd into v, strictly.
func decodeFrom(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// Worded as ingress words a delivery that is not JSON.
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return hookgate.Errorf(hookgate.EInvalid, "request body is not valid JSON: %v", err)
		}
		return hookgate.Errorf(hookgate.EInvalid, "request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return hookgate.Errorf(hookgate.EInvalid, "request body: data after the JSON object")
	}
	return nil
}

// connectionView is a connection as the API shows it: secrets only by id
// and fingerprint, credentials never.
type connectionView struct {
	hookgate.Connection
	SigningSecret  string       `json:"signing_secret,omitempty"`
	SigningSecrets []string     `json:"signing_secrets,omitempty"`
	BasicAuth      any          `json:"basic_auth,omitempty"`
	APIKey         any          `json:"api_key,omitempty"`
	VerifyToken    any          `json:"verify_token,omitempty"`
	Secrets        []secretView `json:"secrets"`
	Paths          []string     `json:"paths"`
}

func sortViews(vs []connectionView) {
	slices.SortFunc(vs, func(a, b connectionView) int {
		return strings.Compare(a.Type+"/"+a.Name, b.Type+"/"+b.Name)
	})
}

type secretView struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
}

func viewConnection(c *hookgate.Connection, fingerprint func(string) string) connectionView {
	v := connectionView{Connection: *c, Paths: []string{c.DefaultPath()}, Secrets: []secretView{}}
	for _, s := range c.Secrets() {
		v.Secrets = append(v.Secrets, secretView{ID: hookgate.SecretID(s), Fingerprint: fingerprint(s)})
	}
	if c.BasicAuth != nil {
		v.BasicAuth = map[string]string{"username": c.BasicAuth.Username}
	}
	if c.APIKey != nil {
		v.APIKey = map[string]string{"header": c.APIKey.Header, "fingerprint": fingerprint(c.APIKey.Value)}
	}
	if c.VerifyToken != "" {
		v.VerifyToken = map[string]string{"fingerprint": fingerprint(c.VerifyToken)}
	}
	if c.Path != "" {
		v.Paths = append(v.Paths, c.Path)
	}
	return v
}

func (a *API) createConnection(w http.ResponseWriter, r *http.Request) {
	var c hookgate.Connection
	if err := decode(w, r, &c); err != nil {
		Error(w, err)
		return
	}
	if c.Type == "" || c.Name == "" {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "type and name are required"))
		return
	}
	if err := a.GW.AddConnection(r.Context(), &c); err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("connection registered", "type", c.Type, "name", c.Name)
	writeJSON(w, http.StatusCreated, viewConnection(&c, a.GW.Fingerprint))
}

func (a *API) listConnections(w http.ResponseWriter, r *http.Request) {
	cs := a.GW.Connections()
	out := make([]connectionView, 0, len(cs))
	for _, c := range cs {
		out = append(out, viewConnection(c, a.GW.Fingerprint))
	}
	sortViews(out)
	writeJSON(w, http.StatusOK, map[string]any{"connections": out})
}

func (a *API) getConnection(w http.ResponseWriter, r *http.Request) {
	c, err := a.GW.Connection(r.PathValue("type"), r.PathValue("name"))
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewConnection(c, a.GW.Fingerprint))
}

// patchConnection merges the given fields into the connection: fields absent
// from the body keep their value.
func (a *API) patchConnection(w http.ResponseWriter, r *http.Request) {
	cur, err := a.GW.Connection(r.PathValue("type"), r.PathValue("name"))
	if err != nil {
		Error(w, err)
		return
	}
	next := *cur
	if err := decode(w, r, &next); err != nil {
		Error(w, err)
		return
	}
	if next.Type != cur.Type || next.Name != cur.Name {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "type and name cannot change; register a new connection"))
		return
	}
	if err := a.GW.UpdateConnection(r.Context(), &next); err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewConnection(&next, a.GW.Fingerprint))
}

func (a *API) deleteConnection(w http.ResponseWriter, r *http.Request) {
	if err := a.GW.DeleteConnection(r.Context(), r.PathValue("type"), r.PathValue("name")); err != nil {
		Error(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TimeFormat is the receipt timestamp format of SPEC §6 (microseconds, UTC).
const TimeFormat = "2006-01-02T15:04:05.000000Z"

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ReceiptJSON renders a receipt as SPEC §6 "Receipt JSON". full adds
// headers, body, attempts and history.
func ReceiptJSON(rc *hookgate.Receipt, full bool) map[string]any {
	m := map[string]any{
		"id":              rc.ID,
		"connection":      rc.Connection,
		"connection_type": rc.ConnectionType,
		"event_type":      rc.EventType,
		"nonce":           rc.Nonce,
		"idempotency_key": rc.IdempotencyKey,
		"status":          rc.Status,
		"reason":          nullable(rc.Reason),
		"duplicate_of":    nullable(rc.DuplicateOf),
		"received_at":     ts(rc.ReceivedAt),
		"secret_id":       nullable(rc.SecretID),
		"source":          receiptSource(rc),
	}
	if !full {
		return m
	}
	headers := rc.Headers
	if headers == nil {
		headers = http.Header{}
	}
	m["headers"] = headers
	m["body"], m["body_base64"] = nil, nil
	if rc.Body != nil {
		if utf8.Valid(rc.Body) {
			m["body"] = string(rc.Body)
		} else {
			m["body_base64"] = base64.StdEncoding.EncodeToString(rc.Body)
		}
	}
	attempts := make([]map[string]any, 0, len(rc.Attempts))
	for _, at := range rc.Attempts {
		var code any
		if at.StatusCode != 0 {
			code = at.StatusCode
		}
		attempts = append(attempts, map[string]any{
			"handler": at.Handler, "round": at.Round, "number": at.Number,
			"started_at": ts(at.StartedAt), "finished_at": ts(at.FinishedAt),
			"outcome": at.Outcome, "status_code": code, "error": nullable(at.Error),
			"reply": replyJSON(at),
		})
	}
	m["attempts"] = attempts
	history := make([]map[string]any, 0, len(rc.History))
	for _, h := range rc.History {
		e := map[string]any{"status": h.Status, "at": ts(h.At)}
		if h.Reason != "" {
			e["reason"] = h.Reason
		}
		history = append(history, e)
	}
	m["history"] = history
	if len(rc.Trace) > 0 {
		m["trace"] = json.RawMessage(rc.Trace)
	}
	return m
}

func (a *API) listReceipts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := hookgate.ReceiptFilter{
		Connection: q.Get("connection"),
		Status:     hookgate.Status(q.Get("status")),
		EventType:  q.Get("event_type"),
		Cursor:     q.Get("cursor"),
	}
	if f.Status != "" && !f.Status.Valid() {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "unknown status %q", f.Status))
		return
	}
	var err error
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				Error(w, hookgate.Errorf(hookgate.EInvalid, "%s must be an RFC 3339 time", name))
				return
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 500 {
			Error(w, hookgate.Errorf(hookgate.EInvalid, "limit must be a number from 1 to 500"))
			return
		}
	}
	rs, next, err := a.GW.Store().Receipts(r.Context(), f)
	if err != nil {
		Error(w, err)
		return
	}
	out := make([]map[string]any, 0, len(rs))
	for _, rc := range rs {
		out = append(out, ReceiptJSON(rc, false))
	}
	body := map[string]any{"receipts": out}
	if next != "" {
		body["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) getReceipt(w http.ResponseWriter, r *http.Request) {
	rc, err := a.GW.Store().Receipt(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ReceiptJSON(rc, true))
}

func (a *API) replayReceipt(w http.ResponseWriter, r *http.Request) {
	tr, err := a.GW.Replay(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("receipt replayed", "receipt", tr.ReceiptID)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": tr.ReceiptID, "status": tr.Status})
}

func (a *API) addSecret(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Secret string `json:"secret"`
	}
	if err := decode(w, r, &in); err != nil {
		Error(w, err)
		return
	}
	id, err := a.GW.AddSecret(r.Context(), r.PathValue("type"), r.PathValue("name"), in.Secret)
	if err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("secret added", "connection", r.PathValue("name"), "secret", id)
	writeJSON(w, http.StatusCreated, secretView{ID: id, Fingerprint: a.GW.Fingerprint(in.Secret)})
}

func (a *API) retireSecret(w http.ResponseWriter, r *http.Request) {
	if err := a.GW.RetireSecret(r.Context(), r.PathValue("type"), r.PathValue("name"), r.PathValue("id")); err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("secret retired", "connection", r.PathValue("name"), "secret", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

// admitReceipt re-verifies a rejected receipt with today's secrets. When it
// still fails, the answer carries the verification trace so the operator
// sees why.
func (a *API) admitReceipt(w http.ResponseWriter, r *http.Request) {
	tr, trace, err := a.GW.Admit(r.Context(), r.PathValue("id"))
	if err != nil {
		body := map[string]any{"error": hookgate.ErrorCode(err), "message": hookgate.ErrorMessage(err)}
		if trace != nil {
			body["trace"] = trace
		}
		writeJSON(w, hookgate.ErrorStatus(err), body)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": tr.ReceiptID, "status": tr.Status, "trace": trace})
}

// streamEvents is the Server-Sent Events stream of receipt transitions
// (receipt.status_transitioned) and of handlers' circuit moves
// (handler.circuit_changed).
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		Error(w, hookgate.Errorf(hookgate.EInternal, "streaming unsupported"))
		return
	}
	ch, cancel := a.GW.Events().Subscribe(256)
	defer cancel()
	circuits, cancelCircuits := a.GW.CircuitEvents().Subscribe(16)
	defer cancelCircuits()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": connected\n\n")
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			_, _ = io.WriteString(w, ": keepalive\n\n")
			fl.Flush()
		case t, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(TransitionJSON(t))
			fmt.Fprintf(w, "event: receipt.status_transitioned\ndata: %s\n\n", b)
			fl.Flush()
		case c, ok := <-circuits:
			if !ok {
				return
			}
			b, _ := json.Marshal(CircuitJSON(c))
			fmt.Fprintf(w, "event: handler.circuit_changed\ndata: %s\n\n", b)
			fl.Flush()
		}
	}
}

// TransitionJSON renders a receipt.status_transitioned event.
func TransitionJSON(t hookgate.Transition) map[string]any {
	m := map[string]any{
		"receipt_id": t.ReceiptID, "connection": t.Connection,
		"from": nullable(string(t.From)), "status": t.Status,
		"reason": nullable(t.Reason), "at": ts(t.At),
	}
	if t.NextAttemptAt != nil {
		m["next_attempt_at"] = ts(*t.NextAttemptAt)
	}
	return m
}

// rotateKey replaces the key that seals stored secrets and re-seals them
// (SPEC §9, `hookgate secrets rotate-key`). The request needs no body.
func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) {
	rot, err := a.GW.RotateKey(r.Context())
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rot)
}
