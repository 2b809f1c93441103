package ingress

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// The sender's poll (SPEC §2, §4.2 "Job results"): GET {connection
// path}/receipts/{id}, or GET at the connection's status_path, with the
// credentials the sender posts with, answers the receipt's status and the
// latest reply of each of its handlers.
//
// Only connections whose credential is one a GET can carry offer it: basic
// and api_key. A body signature (HMAC) would be a signature of the empty
// body, the same for every poll and every id, with no replay protection: a
// static credential in disguise. status_path is refused on such connections
// at start-up; their /receipts/ path answers 405.
//
// Credentials are checked before anything is read, so without them every id
// is 401 alike. With them, a receipt of another connection is 404 like a
// missing one, and costs the same lookup (hookgate.Store.JobResult).

// PollDirectory is a Directory that also resolves status_path polls.
type PollDirectory interface {
	// LookupPoll returns the connections whose status_path serves path,
	// and the receipt id it names; ok is false when no status_path does.
	LookupPoll(path string) (eps []*Endpoint, id string, ok bool)
}

// maxPollID bounds the receipt id a poll may name; a longer one is no
// receipt's (ids are UUIDs) and is not looked up.
const maxPollID = 64

// servePoll answers a GET that named no connection if it is a poll, and
// reports whether it was.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) bool {
	eps, id, ok := s.pollTarget(w, r.URL.Path)
	if !ok {
		return false
	}
	if eps == nil {
		return true // answered
	}
	// Every connection sharing the path is asked, whichever verifies: the
	// time spent does not depend on which one the credential belongs to.
	now := s.Now()
	names := make([]string, 0, len(eps))
	for _, ep := range eps {
		if ep.Verifier == nil {
			continue
		}
		if _, err := ep.Verifier.Verify(&verify.Request{Method: r.Method, URL: r.URL, Header: r.Header, Now: now}); err == nil {
			names = append(names, ep.Conn.Name)
		}
	}
	if len(names) == 0 {
		WriteError(w, http.StatusUnauthorized, hookgate.EUnauthorized, "credentials rejected")
		return true
	}
	if id == "" || len(id) > maxPollID {
		WriteError(w, http.StatusNotFound, hookgate.ENotFound, "no such receipt on this connection")
		return true
	}
	rc, err := s.Store.JobResult(r.Context(), id, names)
	if err != nil {
		if hookgate.ErrorCode(err) == hookgate.ENotFound {
			WriteError(w, http.StatusNotFound, hookgate.ENotFound, "no such receipt on this connection")
			return true
		}
		s.Logger.Error("read receipt for a poll", "err", err)
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusServiceUnavailable, hookgate.EUnavailable, "storage unavailable")
		return true
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, PollJSON(rc))
	return true
}

// pollTarget resolves a poll path: {connection path}/receipts/{id}, else a
// status_path. It answers 405 itself (eps nil, ok true) for a /receipts/
// poll of a connection whose credential a GET cannot carry.
func (s *Server) pollTarget(w http.ResponseWriter, path string) (eps []*Endpoint, id string, ok bool) {
	if base, rid, found := cutReceiptPath(path); found {
		if ep, err := s.Dir.Lookup(base); err == nil {
			switch ep.AuthConfig().Auth {
			case "basic", "api_key":
				return []*Endpoint{ep}, rid, true
			}
			WriteError(w, http.StatusMethodNotAllowed, hookgate.EMethod, "receipt status polling is only available to basic and api_key connections")
			return nil, "", true
		}
	}
	if pd, found := s.Dir.(PollDirectory); found {
		return pd.LookupPoll(path)
	}
	return nil, "", false
}

// PollJSON is the answer of the sender's poll: the receipt's status and the
// latest reply of each handler, in the order the handlers first ran.
func PollJSON(rc *hookgate.Receipt) map[string]any {
	latest := map[string]int{} // handler → index in replies
	replies := make([]map[string]any, 0, 2)
	for _, a := range rc.Attempts {
		m := ReplyJSON(a)
		m["handler"] = a.Handler
		if i, ok := latest[a.Handler]; ok {
			replies[i] = m // attempts are in the order they ran
			continue
		}
		latest[a.Handler] = len(replies)
		replies = append(replies, m)
	}
	return map[string]any{
		"id":          rc.ID,
		"status":      rc.Status,
		"event_type":  rc.EventType,
		"received_at": rc.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"updated_at":  rc.UpdatedAt.UTC().Format(time.RFC3339Nano),
		"attempts":    len(rc.Attempts),
		"replies":     replies,
	}
}

// ReplyJSON renders an attempt's reply: its outcome and status code, and
// the content type and body it answered (body_base64 instead of body when
// the body is not UTF-8; truncated when it was cut at
// webhooks.max_reply_bytes). The admin API's attempts carry the same.
func ReplyJSON(a hookgate.Attempt) map[string]any {
	m := map[string]any{
		"round": a.Round, "number": a.Number, "outcome": a.Outcome,
		"finished_at":  a.FinishedAt.UTC().Format(time.RFC3339Nano),
		"status_code":  nil,
		"content_type": nil, "body": nil, "body_base64": nil, "truncated": a.ReplyTruncated,
	}
	if a.StatusCode != 0 {
		m["status_code"] = a.StatusCode
	}
	if a.Reply == nil {
		return m
	}
	if a.Reply.ContentType != "" {
		m["content_type"] = a.Reply.ContentType
	}
	if a.Reply.Body != nil {
		if utf8.Valid(a.Reply.Body) {
			m["body"] = string(a.Reply.Body)
		} else {
			m["body_base64"] = base64.StdEncoding.EncodeToString(a.Reply.Body)
		}
	}
	return m
}

func cutReceiptPath(p string) (base, id string, ok bool) {
	i := strings.LastIndex(p, "/receipts/")
	if i <= 0 {
		return "", "", false
	}
	id = p[i+len("/receipts/"):]
	if id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return p[:i], id, true
}
