// Package httpsend is the "http" handler: it forwards the raw body to a URL
// with hookgate's headers and a Standard Webhooks signature, so internal
// services verify one scheme whatever the provider was.
package httpsend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/placeholder"
	"github.com/hookgate/hookgate/tracing"
	"github.com/hookgate/hookgate/verify"
)

// Headers hookgate adds to every forwarded request (SPEC §4.3).
const (
	HeaderReceiptID      = "Hookgate-Receipt-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEventType      = "Hookgate-Event-Type"
	HeaderConnection     = "Hookgate-Connection"
)

// Sender posts receipts to URL.
type Sender struct {
	URL string
	// Signer signs with Standard Webhooks headers; nil sends unsigned.
	Signer *verify.Verifier
	Client *http.Client
	Now    func() time.Time
	// MaxReply bounds the reply body read for SendReply; the dispatcher
	// keeps at most as much. 0 means 64 KiB.
	MaxReply int64

	headers []header // the configured headers, parsed once
}

// header is one configured header; its value may hold placeholders
// ({{event_type}}, {{header:Name}}, …; see package placeholder).
type header struct {
	name  string
	value *placeholder.Template
}

var _ hookgate.Replier = (*Sender)(nil)

// New builds a Sender. headers are extra request headers whose values may
// use placeholders; a bad name or placeholder is an error. signingSecret may
// be empty (no signature).
func New(url string, headers map[string]string, signingSecret string, client *http.Client, now func() time.Time) (*Sender, error) {
	s := &Sender{URL: url, Client: client, Now: now}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names) // one order, so a request is the same on every try
	for _, k := range names {
		if !validName(k) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", k)
		}
		t, err := placeholder.Parse(headers[k])
		if err != nil {
			return nil, fmt.Errorf("headers: %s: %w", k, err)
		}
		if v, ok := t.Static(); ok && strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return nil, fmt.Errorf("headers: %s: the value holds control characters a header cannot carry", k)
		}
		s.headers = append(s.headers, header{name: http.CanonicalHeaderKey(k), value: t})
	}
	if signingSecret != "" {
		v, err := verify.New(verify.Config{Auth: "svix", Secrets: []verify.Secret{{ID: "hookgate", Value: signingSecret}}})
		if err != nil {
			return nil, fmt.Errorf("http handler signing secret: %w", err)
		}
		s.Signer = v
	}
	return s, nil
}

// validName reports whether k is an HTTP header name (an RFC 9110 token).
func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// MaxReplyBody is the reply body kept by default (SPEC §4.2 job results;
// webhooks.max_reply_bytes sets MaxReply).
const MaxReplyBody = 64 << 10

// maxErrorBody bounds how much of an error answer is read into the attempt.
const maxErrorBody = 512

// Send posts the body. 2xx is success; 408, 429, 5xx and transport errors
// are retried; any other status is final (the destination refused it).
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	reply, retry, err := s.SendReply(ctx, r)
	return reply.StatusCode, retry, err
}

// SendReply is Send answering the destination's reply: its status, content
// type and body (up to MaxReply and one byte more, so a longer body is
// seen to be longer), whatever the status.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	var none hookgate.Reply
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(r.Body))
	if err != nil {
		return none, false, fmt.Errorf("build request: %w", err)
	}
	ct := r.Headers.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "hookgate")
	if len(s.headers) > 0 {
		fields := placeholder.For(r)
		for _, h := range s.headers {
			req.Header[h.name] = []string{h.value.Expand(fields)}
		}
	}
	req.Header.Set(HeaderReceiptID, r.ID)
	req.Header.Set(HeaderIdempotencyKey, r.IdempotencyKey)
	req.Header.Set(HeaderEventType, r.EventType)
	req.Header.Set(HeaderConnection, r.Connection)
	tracing.Inject(ctx, req.Header) // the attempt's span, when tracing is on
	if s.Signer != nil {
		// The receipt id is the message id, stable across retries, so the
		// destination can deduplicate on webhook-id as well.
		req.Header.Set("webhook-id", r.ID)
		if err := s.Signer.Sign(&verify.Request{Method: http.MethodPost, URL: req.URL, Header: req.Header, Body: r.Body, Now: s.Now()}, 0); err != nil {
			return none, false, fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		// The client's *url.Error quotes the whole URL, query included (a
		// token there would reach the stored attempt): keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// A destination outside allowed_destinations is a configuration
		// error: retrying cannot help, so the receipt goes to dead (and
		// can be replayed once the handler or the list is fixed).
		retry := !errors.Is(err, ErrForbiddenDestination)
		return none, retry, fmt.Errorf("post %s: %w", redactURL(s.URL), err)
	}
	defer resp.Body.Close()
	limit := s.MaxReply
	if limit <= 0 {
		limit = MaxReplyBody
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	reply := hookgate.Reply{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return reply, false, nil
	}
	snippet := body[:min(len(body), maxErrorBody)]
	retry := resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	msg := strings.TrimSpace(string(snippet))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		return reply, retry, fmt.Errorf("destination answered %d with an empty body", resp.StatusCode)
	}
	return reply, retry, fmt.Errorf("destination answered %d: %s", resp.StatusCode, msg)
}

// redactURL drops userinfo and query from a URL for error messages.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	return u
}
