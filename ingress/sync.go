package ingress

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// Synchronous routes (SPEC §4.2): the delivery is stored durably first, in
// the same group commit as any other, with its job leased to this process;
// then the route's handlers run inline and the answer is the reply of the
// route's reply_from handler. When a handler fails, the time runs out or
// sync work is at its bound, the answer is the connection's usual one and
// the receipt carries on as an async one: nothing is answered before the
// commit, and nothing is lost.

// SyncRunner runs the handlers of a sync route's receipt inline
// (dispatch.Inline).
type SyncRunner interface {
	// Acquire takes a slot of sync work without waiting; false when all are
	// taken (the route is then answered as an async one).
	Acquire() bool
	// Release gives back a slot whose delivery was not run.
	Release()
	// Lease is the owner and lease end to store the delivery with
	// (hookgate.Store.IngestLeased).
	Lease(now time.Time) (owner string, until time.Time)
	// Run runs r's handlers and answers the reply of handler replyFrom
	// ("" for the first) when they all succeeded within timeout; it gives
	// the slot back once the outcome is committed, which may be after it
	// returned. r must not be reused by the caller.
	Run(r *hookgate.Receipt, timeout time.Duration, replyFrom string) (hookgate.Reply, bool)
}

// SyncOutcome says how a delivery of a sync route was answered.
type SyncOutcome string

// Sync outcomes, the values of hookgate_sync_requests_total{outcome}.
const (
	// SyncReplied: with the handler's reply.
	SyncReplied SyncOutcome = "replied"
	// SyncFallback: a handler failed or time ran out; the usual answer.
	SyncFallback SyncOutcome = "fallback"
	// SyncBusy: sync work was at limits.sync_concurrency; the usual answer,
	// and the receipt was dispatched as an async one.
	SyncBusy SyncOutcome = "busy"
	// SyncDuplicate: the idempotency key was seen; the usual answer.
	SyncDuplicate SyncOutcome = "duplicate"
)

// DefaultSyncTimeout is a sync route's sync_timeout when it sets none (and
// its provider allows as long).
const DefaultSyncTimeout = 5 * time.Second

// HeaderReceiptID names the receipt in a sync route's answer, so that a
// sender can poll it later (GET {path}/receipts/{id}).
const HeaderReceiptID = "Hookgate-Receipt-Id"

// syncRoute is the first route of rc's event type with mode sync, or nil.
func syncRoute(ep *Endpoint, rc *hookgate.Receipt) *hookgate.Route {
	for _, rt := range rules.MatchRoutes(ep.Conn.Routes, rc.EventType) {
		if rt.Mode == hookgate.ModeSync {
			return &rt
		}
	}
	return nil
}

// serveSync answers a delivery whose first sync route is route, and reports
// whether it did; false (no sync route, or no slot) leaves the delivery to
// the async path.
func (s *Server) serveSync(ctx context.Context, w http.ResponseWriter, r *http.Request, ep *Endpoint, rc *hookgate.Receipt, bd *body, env rules.Envelope) bool {
	route := syncRoute(ep, rc)
	if route == nil {
		return false
	}
	conn := ep.Conn
	if !s.Sync.Acquire() {
		s.syncOutcome(conn.Name, SyncBusy)
		return false
	}
	// The inline pass may outlive the request (a handler slower than
	// sync_timeout): the body must not go back to the pool with it.
	rc.Body = bd.detach()
	owner, until := s.Sync.Lease(rc.ReceivedAt)
	trs, err := s.Store.IngestLeased(ctx, rc, ep.IdempotencyTTL, owner, until)
	if o, ok := w.(*observed); ok && err == nil {
		o.receipt = rc.ID
	}
	if err != nil {
		s.Sync.Release()
		s.Logger.Error("store receipt failed; answering 503 so the provider retries",
			"connection", conn.Name, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, ep, &hookgate.Error{Code: hookgate.EUnavailable, Message: "storage unavailable; retry later", Err: err})
		return true
	}
	for _, tr := range trs {
		s.Events.Publish(tr)
	}
	if rc.Status != hookgate.StatusDispatched {
		// A duplicate: its original was answered already.
		s.Sync.Release()
		s.syncOutcome(conn.Name, SyncDuplicate)
		s.succeed(w, ep, rc, answerData(ep, r.Header, env, rc))
		return true
	}
	timeout := time.Duration(route.SyncTimeout)
	if timeout <= 0 {
		timeout = ep.SyncTimeout
	}
	reply, ok := s.Sync.Run(rc, timeout, route.ReplyFrom)
	if !ok {
		s.syncOutcome(conn.Name, SyncFallback)
		s.succeed(w, ep, rc, answerData(ep, r.Header, env, rc))
		return true
	}
	s.syncOutcome(conn.Name, SyncReplied)
	writeReply(w, rc.ID, reply)
	return true
}

func (s *Server) syncOutcome(connection string, o SyncOutcome) {
	if s.OnSync != nil {
		s.OnSync(connection, o)
	}
}

// writeReply answers a handler's reply. Its status is kept when it is 2xx
// and is 200 otherwise: a successful handler may answer none (an exec
// handler, a Go handler's 0) or one that is no final success answer (1xx,
// 3xx; a failure never gets here). Its content type is kept when it is a
// valid media type; a body without one is text/plain when it is UTF-8, else
// application/octet-stream, never sniffed.
func writeReply(w http.ResponseWriter, id string, reply hookgate.Reply) {
	status := reply.StatusCode
	if status < 200 || status > 299 {
		status = http.StatusOK
	}
	h := w.Header()
	h.Set(HeaderReceiptID, id)
	h.Set("X-Content-Type-Options", "nosniff")
	body := reply.Body
	if status == http.StatusNoContent || status == http.StatusResetContent {
		body = nil // HTTP allows no body with these
	}
	if len(body) > 0 {
		ct := reply.ContentType
		if _, _, err := mime.ParseMediaType(ct); ct == "" || err != nil {
			ct = "application/octet-stream"
			if utf8.Valid(body) {
				ct = "text/plain; charset=utf-8"
			}
		}
		h.Set("Content-Type", ct)
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
