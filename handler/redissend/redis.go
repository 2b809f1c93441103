// Package redissend is the "redis" handler: it appends each receipt to a
// Redis stream with XADD. The entry carries the receipt id and idempotency
// key as fields, so a consumer deduplicates redeliveries (delivery is
// at least once; XADD itself has no deduplication).
package redissend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate"
)

// The fields of each stream entry.
const (
	FieldReceiptID      = "receipt_id"
	FieldIdempotencyKey = "idempotency_key"
	FieldEventType      = "event_type"
	FieldConnection     = "connection"
	FieldConnectionType = "connection_type"
	FieldContentType    = "content_type"
	FieldBody           = "body"
)

// Sender appends to one stream through one shared client (a small pool of
// connections, opened as deliveries need them and reopened after a failure).
type Sender struct {
	opts   *redis.Options
	stream string

	mu     sync.Mutex
	client *redis.Client
	closed bool
}

// New checks the handler's url (redis://, rediss:// or unix://, as
// go-redis reads it: redis://[user:password@]host:port/db) and stream.
func New(h hookgate.HandlerConfig) (*Sender, error) {
	if h.URL == "" {
		return nil, errors.New("url is required (e.g. redis://127.0.0.1:6379/0)")
	}
	opts, err := redis.ParseURL(h.URL)
	if err != nil {
		// go-redis quotes nothing secret, but keep to our own words.
		return nil, errors.New("url must be redis://[user:password@]host:port/db, rediss://… or unix:///path")
	}
	if h.Stream == "" {
		return nil, errors.New("stream is required: the key of the Redis stream to XADD to")
	}
	opts.DialTimeout = 5 * time.Second
	// Deliveries are bounded by the handler timeout (the context); the
	// dispatcher owns retries, so one attempt is one XADD, not four.
	opts.MaxRetries = -1
	opts.DisableIdentity = true
	return &Sender{opts: opts, stream: h.Stream}, nil
}

// Send appends the entry; see SendReply.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	_, retry, err := s.SendReply(ctx, r)
	return 0, retry, err
}

// SendReply appends the receipt and returns the entry's id as the reply
// ({"stream","id"}). Every failure is retried.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	c, err := s.conn()
	if err != nil {
		return hookgate.Reply{}, true, err
	}
	id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, Values: []any{
		FieldReceiptID, r.ID,
		FieldIdempotencyKey, r.IdempotencyKey,
		FieldEventType, r.EventType,
		FieldConnection, r.Connection,
		FieldConnectionType, r.ConnectionType,
		FieldContentType, r.Headers.Get("Content-Type"),
		FieldBody, r.Body,
	}}).Result()
	if err != nil {
		return hookgate.Reply{}, true, fmt.Errorf("xadd %s: %w", s.stream, err)
	}
	body, _ := json.Marshal(struct {
		Stream string `json:"stream"`
		ID     string `json:"id"`
	}{s.stream, id})
	return hookgate.Reply{ContentType: "application/json", Body: body}, false, nil
}

func (s *Sender) conn() (*redis.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("redis handler is closed")
	}
	if s.client == nil {
		s.client = redis.NewClient(s.opts)
	}
	return s.client, nil
}

// Close closes the client's connections; later deliveries fail (and are
// retried by whichever handler replaced this one).
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.client != nil {
		err := s.client.Close()
		s.client = nil
		return err
	}
	return nil
}
