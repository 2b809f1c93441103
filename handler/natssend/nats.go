// Package natssend is the "nats" handler: it publishes each receipt to a
// NATS JetStream subject and waits for the stream's ack, so success means
// the message is stored. Nats-Msg-Id is the receipt's idempotency key, so
// JetStream drops a redelivery of the same receipt within the stream's
// duplicate window.
package natssend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/placeholder"
)

// Headers set on every message besides Nats-Msg-Id.
const (
	HeaderReceiptID      = "Hookgate-Receipt-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEventType      = "Hookgate-Event-Type"
	HeaderConnection     = "Hookgate-Connection"
	HeaderContentType    = "Content-Type"
)

// dialTimeout bounds one attempt to connect; redialAfter is how long a
// failed connect is remembered, so that while the server is unreachable
// concurrent deliveries fail at once instead of queueing to dial.
const (
	dialTimeout = 5 * time.Second
	redialAfter = time.Second
)

// Sender publishes to one subject over one shared connection, opened at the
// first delivery (loading a configuration never dials) and reconnected by
// the client library when the server goes away.
type Sender struct {
	url     string
	subject string

	mu      sync.Mutex
	nc      *nats.Conn
	js      jetstream.JetStream
	lastErr error
	lastTry time.Time
	closed  bool
}

// New checks the handler's url (nats://, tls://, or several joined by
// commas) and subject (a literal subject: no wildcards, no empty tokens).
func New(h hookgate.HandlerConfig) (*Sender, error) {
	if h.URL == "" {
		return nil, errors.New("url is required (e.g. nats://127.0.0.1:4222)")
	}
	for _, u := range strings.Split(h.URL, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls" && pu.Scheme != "ws" && pu.Scheme != "wss") {
			return nil, fmt.Errorf("url %q must be nats://host:port (or tls://, ws://, wss://), several joined by commas", Redact(u))
		}
	}
	if err := checkSubject(h.Subject); err != nil {
		return nil, err
	}
	return &Sender{url: h.URL, subject: h.Subject}, nil
}

func checkSubject(s string) error {
	if s == "" {
		return errors.New("subject is required (e.g. webhooks.github)")
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("subject %q must be a literal subject: dot-separated tokens, no wildcards or spaces", s)
		}
	}
	return nil
}

// Send publishes; see SendReply.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	_, retry, err := s.SendReply(ctx, r)
	return 0, retry, err
}

// ack is the reply: where the stream stored the message.
type ack struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// SendReply publishes the body with hookgate's headers and waits for the
// JetStream ack; the reply is the ack as JSON ({"stream","seq","duplicate"}).
// Every failure is retried except a body larger than the server accepts.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	js, err := s.conn()
	if err != nil {
		return hookgate.Reply{}, true, err
	}
	key := r.IdempotencyKey
	if key == "" {
		key = r.ID
	}
	ct := r.Headers.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	msg := &nats.Msg{Subject: s.subject, Data: r.Body, Header: nats.Header{
		jetstream.MsgIDHeader: {placeholder.Clean(key)},
		HeaderReceiptID:       {r.ID},
		HeaderIdempotencyKey:  {placeholder.Clean(r.IdempotencyKey)},
		HeaderEventType:       {placeholder.Clean(r.EventType)},
		HeaderConnection:      {r.Connection},
		HeaderContentType:     {placeholder.Clean(ct)},
	}}
	pa, err := js.PublishMsg(ctx, msg)
	if err != nil {
		retry := !errors.Is(err, nats.ErrMaxPayload)
		return hookgate.Reply{}, retry, fmt.Errorf("publish to %s: %w", s.subject, err)
	}
	body, _ := json.Marshal(ack{Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate})
	return hookgate.Reply{ContentType: "application/json", Body: body}, false, nil
}

// conn returns the shared JetStream context, connecting if there is none.
func (s *Sender) conn() (jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("nats handler is closed")
	}
	if s.nc != nil && !s.nc.IsClosed() {
		return s.js, nil
	}
	if s.lastErr != nil && time.Since(s.lastTry) < redialAfter {
		return nil, s.lastErr
	}
	s.lastTry = time.Now() // real time: pacing dials is not part of what a test clock drives
	nc, err := nats.Connect(s.url,
		nats.Name("hookgate"),
		nats.Timeout(dialTimeout),
		// Once connected, the client reconnects for as long as it takes;
		// deliveries meanwhile fail at once (no buffering: a publish must
		// be acked, not parked) and the dispatcher retries them.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ReconnectBufSize(-1),
	)
	if err != nil {
		s.lastErr = fmt.Errorf("connect to %s: %w", Redact(s.url), err)
		return nil, s.lastErr
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.lastErr = fmt.Errorf("jetstream: %w", err)
		return nil, s.lastErr
	}
	s.nc, s.js, s.lastErr = nc, js, nil
	return js, nil
}

// Close closes the connection; later deliveries fail (and are retried by
// whichever handler replaced this one).
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
	return nil
}

// Redact drops the credentials from a server URL list for messages.
func Redact(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if j := strings.Index(p, "://"); j >= 0 && j < at {
				p = p[:j+3] + "…@" + p[at+1:]
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
