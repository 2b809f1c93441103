// Package ingress is the public HTTP receiver. It runs the checks of SPEC §2
// in their order — connection, type, switch, method, size, provider
// handshake, authentication, replay window, envelope, idempotency, durable
// write — and nothing else: dispatch happens later, from the store.
package ingress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
	"github.com/hookgate/hookgate/verify"
)

// Endpoint is a connection compiled for ingress: its verifier and resolved
// limits (connection value, else preset, else server default).
type Endpoint struct {
	Conn *hookgate.Connection
	// Verifier authenticates deliveries. It is nil while the connection
	// awaits its first secret (a provider that hands the secret over in its
	// handshake, like Asana): then only the handshake is answered and every
	// delivery is rejected with ReasonSecretNotSet.
	Verifier *verify.Verifier
	// Auth is the resolved authentication config, handed to Handshake
	// (the Verifier's own config when there is a Verifier).
	Auth *verify.Config
	// Handshake answers the provider's endpoint verification (SPEC §3.3)
	// before authentication; nil when the provider has none.
	// HandshakeMethods are the methods it arrives with, allowed besides POST.
	Handshake        verify.Handshake
	HandshakeMethods []string
	// HandshakeAfterAuth says the handshake is signed like any delivery
	// (verify.Preset.HandshakeAfterAuth): it is asked for only once the
	// request verified, so no unsigned body is ever inspected.
	HandshakeAfterAuth bool
	// NonceHeader is the delivery id header, or several joined by "+".
	// NonceExplicit says the connection set it itself: it then wins over the
	// nonce the scheme signs (verify.Result.Nonce), which otherwise wins
	// over the preset's header.
	NonceHeader   string
	NonceExplicit bool
	NonceBody     string
	// NonceSource is the connection's own nonce ("body:id", "header:Name");
	// it wins over every other source.
	NonceSource string
	// Rules are the connection's compiled routes (filters, schemas,
	// transforms); never nil for a compiled endpoint.
	Rules *rules.Set
	// AllowEmptyBody accepts a delivery without a body (as an empty object).
	AllowEmptyBody bool
	// AllowArrayBody accepts a JSON array of event objects (batching
	// providers); the envelope is its first element.
	AllowArrayBody bool
	// AcceptForm accepts form-encoded bodies, whose fields are the
	// envelope; FormPayload names the form field that holds the JSON
	// envelope instead (GitHub's form content type). With neither, a form
	// content type is refused.
	AcceptForm  bool
	FormPayload string
	// AllowedIPs restricts senders; empty allows anyone.
	AllowedIPs []netip.Prefix
	// PublicURL is the connection's public_url, or nil.
	PublicURL *url.URL
	EventType string
	// OrderingKeys holds, for each route of Conn, its ordering_key as a
	// source spec (rules.OrderingSource), "" for a route without one; nil
	// when no route sets one, and then nothing is read for it.
	OrderingKeys   []string
	MaxPayload     int64
	IdempotencyTTL time.Duration
	// RedactHeaders are stored as "[redacted]" because their value is a
	// credential (Authorization, a shared-secret header, an API key header).
	RedactHeaders []string
	// Sync says a route of the connection has mode sync (sync.go); a
	// connection without one never looks. SyncTimeout is the sync_timeout
	// of its routes that set none: DefaultSyncTimeout, or less where the
	// provider's own timeout is shorter.
	Sync        bool
	SyncTimeout time.Duration
}

// Directory resolves request paths to endpoints. Implementations swap their
// contents atomically when connections change.
type Directory interface {
	// Lookup returns the endpoint for a request path. It returns an error
	// coded ENotFound for an unknown connection and EWrongType when the name
	// exists under another type.
	Lookup(path string) (*Endpoint, error)
	// Enabled is the global webhooks switch.
	Enabled() bool
}

// Publisher receives transitions after they are committed.
type Publisher interface {
	Publish(hookgate.Transition)
}

// RequestObserver receives one call per answered request (metrics).
// errorType is the JSON error code of a refused request, empty on success.
type RequestObserver interface {
	ObserveRequest(connection string, status int, d time.Duration, errorType string)
}

// RequestTracer records one span per answered request (tracing); receiptID
// is the stored delivery's id, empty when none was stored.
type RequestTracer interface {
	TraceRequest(r *http.Request, start time.Time, connection, receiptID string, status int, errorType string)
}

// Server is the ingress http.Handler.
type Server struct {
	Dir    Directory
	Store  hookgate.Store
	Events Publisher
	Logger *slog.Logger
	// Now is the clock; tests set it.
	Now func() time.Time
	// NewID returns a new receipt id.
	NewID func() string
	// Notify wakes the dispatcher after a job was committed.
	Notify func()
	// Observer, when set, is told about every answered request.
	Observer RequestObserver
	// Tracer, when set, records an ingest span per request (tracing).
	Tracer RequestTracer
	// Proxies may set X-Forwarded-* for the client.
	Proxies Proxies
	// PublicBaseURL, when set, is the scheme and host providers call.
	PublicBaseURL *url.URL
	// RejectRate bounds how many rejected requests per second and connection
	// are recorded as receipts (the rest are counted in logs only), so a
	// flood of forged requests cannot fill the disk.
	RejectRate  rate.Limit
	RejectBurst int
	// OnRejected, when set, is told of each rejected receipt recorded, with
	// the size of its body: the gateway enforces each connection's budget
	// of rejected receipts in the background (hookgate.RejectedBudget), so
	// recording one costs the insert alone. It must return at once.
	OnRejected func(connection string, bodySize int)
	// LearnSecret durably adds a secret that a provider handed over in its
	// handshake (Asana's X-Hook-Secret) to the connection, before the
	// handshake is answered, and returns its id. An error coded EReadOnly or
	// EForbidden refuses the handshake (403); any other error answers 503. Nil refuses
	// every such handshake.
	LearnSecret func(ctx context.Context, conn *hookgate.Connection, secret string) (id string, err error)
	// HandshakeRate bounds how many handshakes per second and connection are
	// answered (each is a stored receipt, and some are unsigned); above it
	// the answer is 503 with Retry-After. Zero means 1 per second, burst 20.
	HandshakeRate  rate.Limit
	HandshakeBurst int
	// Limits bounds the request bodies in flight and the open connections
	// across all requests (SPEC §9); nil bounds neither.
	Limits *Limits
	// RejectLogInterval is how often a connection under a stream of
	// rejections logs their count (rejectlog.go); zero means
	// DefaultRejectLogInterval.
	RejectLogInterval time.Duration
	// Sync runs synchronous routes inline (sync.go); nil answers every
	// route as an async one. OnSync, when set, is told how each delivery
	// of a sync route was answered (metrics).
	Sync   SyncRunner
	OnSync func(connection string, outcome SyncOutcome)

	limiters   sync.Map // connection name → *rate.Limiter
	rejections rejectLog
}

// Reason codes of receipts rejected by ingress itself (verification failures
// carry verify's reason codes).
const (
	ReasonPayloadTooLarge  = "payload_too_large"
	ReasonSenderNotAllowed = "sender_not_allowed"
	// ReasonSecretNotSet: the connection awaits its first secret (to be
	// learned in the provider's handshake or added through the admin API).
	ReasonSecretNotSet = "secret_not_set"
	// ReasonSecretNotLearnable: a handshake handed over a secret that a
	// file-defined (read-only) connection cannot store.
	ReasonSecretNotLearnable = "secret_not_learnable"
)

// redacted replaces credential values in stored headers and bodies.
const redacted = "[redacted]"

// retryAfterSeconds is the Retry-After of a disabled connection.
const retryAfterSeconds = "60"

// observed remembers what an answer was, for the RequestObserver.
type observed struct {
	http.ResponseWriter
	status     int
	errorType  string
	connection string
	receipt    string // the stored delivery's id
}

func (o *observed) WriteHeader(code int) {
	if o.status == 0 {
		o.status = code
	}
	o.ResponseWriter.WriteHeader(code)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Observer == nil && s.Tracer == nil {
		s.serve(w, r)
		return
	}
	start := time.Now()
	o := &observed{ResponseWriter: w}
	s.serve(o, r)
	if o.status == 0 {
		o.status = http.StatusOK
	}
	if s.Observer != nil {
		s.Observer.ObserveRequest(o.connection, o.status, time.Since(start), o.errorType)
	}
	if s.Tracer != nil {
		s.Tracer.TraceRequest(r, start, o.connection, o.receipt, o.status, o.errorType)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Limits != nil && overConnections(r.Context()) {
		s.overloaded(w, r, nil, hookgate.Errorf(hookgate.EOverloaded, "too many open connections; retry later"))
		return
	}
	ep, err := s.Dir.Lookup(r.URL.Path)
	if err != nil {
		if r.Method == http.MethodGet {
			if s.servePoll(w, r) {
				return
			}
		}
		s.fail(w, r, nil, err)
		return
	}
	conn := ep.Conn
	if o, ok := w.(*observed); ok {
		o.connection = conn.Name
	}
	if !s.Dir.Enabled() || !conn.IsEnabled() {
		w.Header().Set("Retry-After", retryAfterSeconds)
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EDisabled, "webhooks are disabled for this connection; retry later"))
		return
	}
	if !ep.allows(r.Method) {
		w.Header().Set("Allow", strings.Join(ep.methods(), ", "))
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EMethod, "method %s not allowed; use POST", r.Method))
		return
	}
	// A delivery is on its way to the store: a busy group commit may wait
	// for it rather than leave it for the next flush (hookgate.Expecter).
	ctx := r.Context()
	if e, ok := s.Store.(hookgate.Expecter); ok {
		var done func()
		ctx, done = e.Expect(ctx)
		defer done()
	}
	now := s.Now()
	if len(ep.AllowedIPs) > 0 && !contains(ep.AllowedIPs, s.Proxies.ClientAddr(r)) {
		s.reject(r, ep, now, ReasonSenderNotAllowed, nil, nil, "")
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EForbidden, "sender address is not in this connection's allowed_ips"))
		return
	}
	bd, err := readBody(r, ep.MaxPayload, s.Limits)
	defer bd.release()
	if err != nil {
		switch {
		case err == errOverBudget:
			s.overloaded(w, r, ep, err)
			return
		case hookgate.ErrorCode(err) == hookgate.ETooLarge:
			// The rest of the body is not read: the connection cannot be reused.
			w.Header().Set("Connection", "close")
			s.reject(r, ep, now, ReasonPayloadTooLarge, nil, nil, "")
		}
		s.fail(w, r, ep, err)
		return
	}
	body := bd.b

	public := s.Proxies.PublicURL(r, ep.PublicURL, s.PublicBaseURL)
	vreq := &verify.Request{Method: r.Method, URL: public, Header: r.Header, Body: body, Now: now}
	if ep.Handshake != nil && !ep.HandshakeAfterAuth {
		// SPEC §2 check 5: a handshake is answered as the provider requires,
		// before the normal signature check. These handshakes are unsigned
		// (or carry their own token) and are recognised by method, query or
		// header, never by parsing the unverified body.
		if s.handshake(w, r, ep, now, &bd, vreq) {
			return
		}
	}
	if r.Method != http.MethodPost {
		// A handshake method that carried no handshake.
		w.Header().Set("Allow", strings.Join(ep.methods(), ", "))
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EMethod, "method %s not allowed here except for the provider's handshake; use POST", r.Method))
		return
	}
	if ep.Verifier == nil {
		// The body is kept: once the secret is set, the receipt can be admitted.
		s.reject(r, ep, now, ReasonSecretNotSet, nil, bd.detach(), "")
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EUnauthorized,
			"this connection has no signing secret yet: it awaits the provider's handshake or a secret added through the admin API"))
		return
	}
	res, err := ep.Verifier.Verify(vreq)
	if err != nil {
		s.verificationFailed(w, r, ep, now, err, bd.detach())
		return
	}
	if ep.HandshakeAfterAuth && s.handshake(w, r, ep, now, &bd, vreq) {
		// A signed handshake (Slack, Zoom, Discord), recognised in the
		// verified body.
		return
	}

	rc, env, err := ep.accept(r.Header, body, res)
	if err != nil {
		if verr := (*rules.ValidationError)(nil); errors.As(err, &verr) {
			s.validationFailed(w, r, ep, now, verr, bd.detach())
			return
		}
		s.fail(w, r, ep, err)
		return
	}
	rc.ID, rc.ReceivedAt, rc.Headers = s.NewID(), now, storedHeaders(r.Header, ep.RedactHeaders)

	if ep.Sync && s.Sync != nil && rc.Status == hookgate.StatusReceived && s.serveSync(ctx, w, r, ep, rc, &bd, env) {
		return // a synchronous route (sync.go)
	}
	tr, err := s.Store.Ingest(ctx, rc, ep.IdempotencyTTL)
	if o, ok := w.(*observed); ok && err == nil {
		o.receipt = rc.ID
	}
	if err != nil {
		s.Logger.Error("store receipt failed; answering 503 so the provider retries",
			"connection", conn.Name, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, ep, &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable; retry later", Err: err})
		return
	}
	s.Events.Publish(tr)
	if rc.Status == hookgate.StatusReceived && s.Notify != nil {
		s.Notify()
	}
	s.Logger.Debug("webhook accepted", "connection", conn.Name, "receipt", rc.ID,
		"event_type", rc.EventType, "status", rc.Status)
	s.succeed(w, ep, rc, answerData(ep, r.Header, env, rc))
}

// handshake answers the request if it is the provider's handshake, and
// reports whether it was.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request, ep *Endpoint, now time.Time, bd *body, vreq *verify.Request) bool {
	resp, handled, err := ep.Handshake(ep.AuthConfig(), vreq)
	if !handled {
		return false
	}
	if err != nil {
		s.verificationFailed(w, r, ep, now, err, bd.detach())
		return true
	}
	s.answerHandshake(w, r, ep, now, bd.detach(), resp)
	return true
}

// overloaded answers 503 with Retry-After when a shared limit is reached,
// and closes the connection: the body is not read.
func (s *Server) overloaded(w http.ResponseWriter, r *http.Request, ep *Endpoint, err error) {
	w.Header().Set("Retry-After", overloadRetryAfter)
	w.Header().Set("Connection", "close")
	s.fail(w, r, ep, err)
}

// verificationFailed answers a failed authentication (401, or 409 for a
// signed timestamp outside the replay window) and records the rejection
// with its trace.
func (s *Server) verificationFailed(w http.ResponseWriter, r *http.Request, ep *Endpoint, now time.Time, err error, body []byte) {
	var f *verify.Failure
	if !errors.As(err, &f) {
		s.fail(w, r, ep, err)
		return
	}
	s.reject(r, ep, now, f.Reason, &f.Trace, body, "")
	code := hookgate.EUnauthorized
	msg := "signature verification failed: " + f.Reason
	if f.Status() == http.StatusConflict {
		code, msg = hookgate.EReplay, "signed timestamp outside the replay window: "+f.Reason
	}
	s.fail(w, r, ep, hookgate.Errorf(code, "%s", msg))
}

// AuthConfig is the connection's resolved authentication config.
func (ep *Endpoint) AuthConfig() *verify.Config {
	if ep.Auth != nil {
		return ep.Auth
	}
	if ep.Verifier != nil {
		return ep.Verifier.Config()
	}
	return &verify.Config{}
}

// allows reports whether method may reach this endpoint: POST, and the
// methods of its provider's handshake.
func (ep *Endpoint) allows(method string) bool {
	return method == http.MethodPost || (ep.Handshake != nil && slices.Contains(ep.HandshakeMethods, method))
}

func (ep *Endpoint) methods() []string {
	out := []string{http.MethodPost}
	if ep.Handshake != nil {
		for _, m := range ep.HandshakeMethods {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// answerHandshake stores the handshake as a `handshake` receipt (never
// dispatched) and then answers as the provider requires. A secret handed
// over in the handshake is added to the connection first, so the next
// delivery signed with it verifies; nothing is answered before both writes.
func (s *Server) answerHandshake(w http.ResponseWriter, r *http.Request, ep *Endpoint, now time.Time, body []byte, resp *verify.HandshakeResponse) {
	conn := ep.Conn
	if !s.handshakeLimiter(conn.Name).AllowN(now, 1) {
		s.Logger.Warn("handshake rate exceeded; answering 503", "connection", conn.Name, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", retryAfterSeconds)
		s.fail(w, r, ep, hookgate.Errorf(hookgate.EUnavailable, "too many handshakes for this connection; retry later"))
		return
	}
	var secretID string
	if resp.LearnSecret != "" {
		id, err := s.learn(r.Context(), conn, resp.LearnSecret)
		if err != nil {
			if code := hookgate.ErrorCode(err); code == hookgate.EReadOnly || code == hookgate.EForbidden {
				s.Logger.Error("handshake refused: the provider handed over a signing secret this connection cannot store",
					"connection", conn.Name, "secret", hookgate.SecretID(resp.LearnSecret), "err", hookgate.ErrorMessage(err))
				s.reject(r, ep, now, ReasonSecretNotLearnable, nil, nil, resp.LearnSecret)
				s.fail(w, r, ep, err)
				return
			}
			s.Logger.Error("store the secret learned in a handshake failed; answering 503 so the provider retries",
				"connection", conn.Name, "secret", hookgate.SecretID(resp.LearnSecret), "err", err)
			w.Header().Set("Retry-After", "5")
			s.fail(w, r, ep, &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable; retry later", Err: err})
			return
		}
		secretID = id
	}
	rc := &hookgate.Receipt{
		ID:             s.NewID(),
		ConnectionType: conn.Type,
		Connection:     conn.Name,
		ReceivedAt:     now,
		Headers:        redactSecret(storedHeaders(r.Header, ep.RedactHeaders), resp.LearnSecret),
		Status:         hookgate.StatusHandshake,
		Body:           redactBody(body, resp.LearnSecret),
		SecretID:       secretID,
	}
	tr, err := s.Store.Record(r.Context(), rc)
	if err != nil {
		s.Logger.Error("store handshake receipt failed; answering 503 so the provider retries",
			"connection", conn.Name, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, ep, &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable; retry later", Err: err})
		return
	}
	s.Events.Publish(tr)
	if secretID != "" {
		s.Logger.Info("handshake answered; signing secret learned", "connection", conn.Name, "receipt", rc.ID, "secret", secretID)
	} else {
		s.Logger.Info("handshake answered", "connection", conn.Name, "receipt", rc.ID)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if len(resp.Body) > 0 && w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

func (s *Server) learn(ctx context.Context, conn *hookgate.Connection, secret string) (string, error) {
	if s.LearnSecret == nil {
		return "", hookgate.Errorf(hookgate.EReadOnly, "this server cannot store secrets learned in handshakes")
	}
	return s.LearnSecret(ctx, conn, secret)
}

// redactSecret replaces every header value that contains secret (Asana
// sends it in X-Hook-Secret): a learned secret is stored only with the
// connection, whose stored form is sealed (store/seal.go), never in clear
// in a receipt.
func redactSecret(h http.Header, secret string) http.Header {
	if secret == "" {
		return h
	}
	for k, vs := range h {
		for i, v := range vs {
			if strings.Contains(v, secret) {
				h[k][i] = redacted
			}
		}
	}
	return h
}

func redactBody(body []byte, secret string) []byte {
	if secret == "" || !bytes.Contains(body, []byte(secret)) {
		return body
	}
	return bytes.ReplaceAll(body, []byte(secret), []byte(redacted))
}

func (s *Server) handshakeLimiter(name string) *rate.Limiter {
	key := "handshake\x00" + name
	if l, ok := s.limiters.Load(key); ok {
		return l.(*rate.Limiter)
	}
	lim, burst := s.HandshakeRate, s.HandshakeBurst
	if lim == 0 {
		lim, burst = 1, 20
	}
	l, _ := s.limiters.LoadOrStore(key, rate.NewLimiter(lim, burst))
	return l.(*rate.Limiter)
}

// errFormRefused answers a form-encoded body on a connection whose provider
// posts JSON (SPEC §4.4): a form there is most often curl's default content
// type on a JSON body, whose fields would otherwise be lost.
var errFormRefused = hookgate.Errorf(hookgate.EMalformed,
	"form-encoded body not accepted on this connection: send Content-Type: application/json (or set accept_form: true on the connection)")

// Accept builds the receipt of a verified delivery (SPEC §2 checks 8–10
// without the write): the envelope check, event type, nonce, idempotency key
// and the initial status — held when the connection is paused, filtered when
// no route takes the event type. ID, ReceivedAt and Headers are the caller's.
// Ingress and the admission of a rejected receipt share it.
func (ep *Endpoint) Accept(h http.Header, body []byte, res verify.Result) (*hookgate.Receipt, error) {
	rc, _, err := ep.accept(h, body, res)
	return rc, err
}

// accept is Accept, and also answers the envelope (for the answer's fields).
// A body that fails a synchronous route's schema is an error that carries a
// *rules.ValidationError.
func (ep *Endpoint) accept(h http.Header, body []byte, res verify.Result) (*hookgate.Receipt, rules.Envelope, error) {
	env, err := ep.Envelope(h, body)
	if err != nil {
		return nil, env, err
	}
	conn := ep.Conn
	rc := &hookgate.Receipt{
		ConnectionType: conn.Type,
		Connection:     conn.Name,
		EventType:      rules.Extract(ep.EventType, h, env),
		Body:           body,
		SecretID:       res.SecretID,
		Status:         hookgate.StatusReceived,
	}
	rc.Nonce = nonce(ep, h, env, body, res.Nonce)
	rc.IdempotencyKey = IdempotencyKey(conn.Name, rc.EventType, rc.Nonce)
	taken := true
	if ep.Rules.Active() {
		if taken, err = ep.decide(rc, h, env); err != nil {
			return nil, env, err
		}
	} else {
		taken = rules.AnyMatch(conn.Routes, rc.EventType)
	}
	switch {
	case conn.Paused:
		rc.Status, rc.Reason = hookgate.StatusHeld, ""
	case !taken:
		rc.Status = hookgate.StatusFiltered
		if rc.Reason == "" {
			rc.Reason = rules.NoRouteReason(rc.EventType)
		}
	}
	if ep.OrderingKeys != nil && rc.Status != hookgate.StatusFiltered {
		rc.OrderingKey = ep.orderingKey(h, env, rc.EventType)
	}
	return rc, env, nil
}

// nonce picks the delivery id (SPEC §2): the connection's own nonce_header,
// else the replay token the scheme signs (Mailgun token, Svix webhook-id,
// Twitch message id — authenticated, unlike a plain header), else the
// preset's nonce header, else the provider's event id in the body, else the
// SHA-256 of the raw body (checksum dedupe).
func nonce(ep *Endpoint, h http.Header, env rules.Envelope, body []byte, signed string) string {
	if ep.NonceSource != "" {
		if v := rules.Extract(ep.NonceSource, h, env); v != "" {
			return v
		}
	}
	if ep.NonceExplicit && ep.NonceHeader != "" {
		if v := headerNonce(ep.NonceHeader, h); v != "" {
			return v
		}
	}
	if signed != "" {
		return signed
	}
	if ep.NonceHeader != "" {
		if v := headerNonce(ep.NonceHeader, h); v != "" {
			return v
		}
	}
	if ep.NonceBody != "" {
		if v, ok := env.Field(ep.NonceBody); ok && v != "" {
			return v
		}
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// headerNonce reads a nonce header spec: one name, or several joined by "+"
// whose values are joined by ":" (all must be present).
func headerNonce(spec string, h http.Header) string {
	if !strings.Contains(spec, "+") {
		return h.Get(spec)
	}
	names := strings.Split(spec, "+")
	vals := make([]string, 0, len(names))
	for _, n := range names {
		v := h.Get(n)
		if v == "" {
			return ""
		}
		vals = append(vals, v)
	}
	return strings.Join(vals, ":")
}

// MaxKeyLength is the longest idempotency key stored as is.
const MaxKeyLength = 255

// IdempotencyKey composes connection:event_type:nonce; a key longer than 255
// characters is replaced by the hex SHA-256 of the whole key, so a lookup never
// fails on length and distinct long keys stay distinct.
func IdempotencyKey(connection, eventType, nonce string) string {
	k := connection + ":" + eventType + ":" + nonce
	if len(k) <= MaxKeyLength {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

func storedHeaders(h http.Header, redact []string) http.Header {
	out := h.Clone()
	out.Del("Authorization")
	for _, name := range redact {
		if out.Get(name) != "" {
			out.Set(name, redacted)
		}
	}
	return out
}

// reject records a rejected receipt, rate-limited per connection. secret,
// when set, is a credential the request carried that must not be stored.
func (s *Server) reject(r *http.Request, ep *Endpoint, now time.Time, reason string, trace *verify.Trace, body []byte, secret string) {
	var traceJSON []byte
	if trace != nil {
		traceJSON, _ = json.Marshal(trace)
	}
	s.recordRejected(r, ep, now, reason, traceJSON, body, secret)
}

// recordRejected is reject with the trace already encoded (a verification
// trace, or the errors of a failed validation).
func (s *Server) recordRejected(r *http.Request, ep *Endpoint, now time.Time, reason string, trace []byte, body []byte, secret string) {
	conn := ep.Conn
	s.rejections.note(s.Logger, s.RejectLogInterval, conn.Name, reason, r.RemoteAddr)
	if !s.limiter(conn.Name).AllowN(now, 1) {
		return
	}
	rc := &hookgate.Receipt{
		ID:             s.NewID(),
		ConnectionType: conn.Type,
		Connection:     conn.Name,
		ReceivedAt:     now,
		Headers:        redactSecret(storedHeaders(r.Header, ep.RedactHeaders), secret),
		Status:         hookgate.StatusRejected,
		Reason:         reason,
		Body:           body,
		Trace:          trace,
	}
	tr, err := s.Store.Record(r.Context(), rc)
	if err != nil {
		s.Logger.Error("record rejected receipt", "connection", conn.Name, "err", err)
		return
	}
	s.Events.Publish(tr)
	// Bodies are kept so that a receipt rejected for a wrong secret can be
	// admitted once the secret is fixed, within a bounded budget.
	if s.OnRejected != nil {
		s.OnRejected(conn.Name, len(body))
	}
}

func (s *Server) limiter(name string) *rate.Limiter {
	if l, ok := s.limiters.Load(name); ok {
		return l.(*rate.Limiter)
	}
	lim, burst := s.RejectRate, s.RejectBurst
	if lim == 0 {
		lim, burst = 10, 50
	}
	l, _ := s.limiters.LoadOrStore(name, rate.NewLimiter(lim, burst))
	return l.(*rate.Limiter)
}

// succeed answers an accepted delivery. data, when not nil, is the data
// object of the JSON answer (response.fields).
func (s *Server) succeed(w http.ResponseWriter, ep *Endpoint, rc *hookgate.Receipt, data map[string]any) {
	resp := ep.Conn.Response
	if resp == nil || resp.Status == 0 || resp.Status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if resp.Body != "json" && data == nil {
		w.WriteHeader(resp.Status)
		return
	}
	id := rc.ID
	if rc.DuplicateOf != "" {
		id = rc.DuplicateOf
	}
	if data == nil {
		data = map[string]any{
			"connection": ep.Conn.Name,
			"receipt_id": id,
			"event_id":   rc.Nonce,
		}
	}
	writeJSON(w, resp.Status, map[string]any{
		"success": true,
		"message": "Webhook received successfully",
		"data":    data,
	})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, ep *Endpoint, err error) {
	status := hookgate.ErrorStatus(err)
	if o, ok := w.(*observed); ok {
		o.errorType = hookgate.ErrorCode(err)
	}
	if status >= 500 && hookgate.ErrorCode(err) == hookgate.EInternal {
		s.Logger.Error("ingress internal error", "path", r.URL.Path, "err", err)
	}
	WriteError(w, status, hookgate.ErrorCode(err), hookgate.ErrorMessage(err))
}

// WriteError writes the JSON error body of SPEC §2.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
