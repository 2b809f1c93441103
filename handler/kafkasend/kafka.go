// Package kafkasend is the "kafka" handler: it produces each receipt to a
// Kafka topic with an idempotent producer that waits for every in-sync
// replica (acks=all), so success means the record is committed to the
// partition log. The record key comes from a field of the delivery, so
// every event about one object lands in one partition, in order.
package kafkasend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/placeholder"
	"github.com/hookgate/hookgate/rules"
)

// Record headers set on every record.
const (
	HeaderReceiptID      = "Hookgate-Receipt-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEventType      = "Hookgate-Event-Type"
	HeaderConnection     = "Hookgate-Connection"
	HeaderContentType    = "Content-Type"
)

// Sender produces to one topic through one client, created at the first
// delivery (loading a configuration never dials). The client keeps its
// broker connections and reconnects by itself.
type Sender struct {
	brokers []string
	topic   string
	key     string // a source spec: header:Name, body:path, joined by +
	opts    []kgo.Opt

	mu     sync.Mutex
	client *kgo.Client
	closed bool
}

// New checks the handler's brokers (host:port each), topic and key (a
// source in the event_type syntax: "body:data.object.id", "header:X-Shop",
// several joined by "+"; empty sends records without a key). opts are added
// to the client's (tests use them).
func New(h hookgate.HandlerConfig, opts ...kgo.Opt) (*Sender, error) {
	if len(h.Brokers) == 0 {
		return nil, errors.New("brokers is required: a list of host:port seed brokers")
	}
	for _, b := range h.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return nil, fmt.Errorf("broker %q must be host:port", b)
		}
	}
	if err := checkTopic(h.Topic); err != nil {
		return nil, err
	}
	if err := rules.ValidateSource(h.Key); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return &Sender{brokers: h.Brokers, topic: h.Topic, key: h.Key, opts: opts}, nil
}

// checkTopic applies Kafka's rule for topic names.
func checkTopic(t string) error {
	if t == "" {
		return errors.New("topic is required")
	}
	if len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("topic %q is not a valid Kafka topic name", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c == '.' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("topic %q is not a valid Kafka topic name (letters, digits, '.', '_' and '-')", t)
		}
	}
	return nil
}

// Send produces; see SendReply.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	_, retry, err := s.SendReply(ctx, r)
	return 0, retry, err
}

// SendReply produces the body as one record and waits until it is
// committed; the reply is where it went ({"topic","partition","offset"}).
// Failures are retried, except a record larger than the broker accepts.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	cl, err := s.conn()
	if err != nil {
		return hookgate.Reply{}, true, err
	}
	ct := r.Headers.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	rec := &kgo.Record{
		Topic: s.topic,
		Value: r.Body,
		Headers: []kgo.RecordHeader{
			{Key: HeaderReceiptID, Value: []byte(r.ID)},
			{Key: HeaderIdempotencyKey, Value: []byte(r.IdempotencyKey)},
			{Key: HeaderEventType, Value: []byte(r.EventType)},
			{Key: HeaderConnection, Value: []byte(r.Connection)},
			{Key: HeaderContentType, Value: []byte(placeholder.Clean(ct))},
		},
	}
	if s.key != "" {
		if k := rules.Extract(s.key, r.Headers, placeholder.For(r).Envelope()); k != "" {
			rec.Key = []byte(k)
		}
	}
	// The client cannot drop a record of the idempotent producer once a
	// request holding it is out (it would break the sequence), so it may
	// keep trying past ctx. The attempt ends at ctx all the same; the record
	// may still be written later, and the retry writes it again: delivery is
	// at least once, and consumers deduplicate on the Idempotency-Key header.
	done := make(chan error, 1)
	cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		retry := !errors.Is(err, kerr.MessageTooLarge)
		return hookgate.Reply{}, retry, fmt.Errorf("produce to %s: %w", s.topic, err)
	}
	body, _ := json.Marshal(struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}{rec.Topic, rec.Partition, rec.Offset})
	return hookgate.Reply{ContentType: "application/json", Body: body}, false, nil
}

func (s *Sender) conn() (*kgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("kafka handler is closed")
	}
	if s.client != nil {
		return s.client, nil
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.brokers...),
		kgo.ClientID("hookgate"),
		kgo.DefaultProduceTopic(s.topic),
		// acks=all with the idempotent producer (franz-go's default, stated
		// here because the guarantee depends on it): a record the client
		// retries internally is written once.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Each delivery waits for its record: no lingering for company.
		// Records buffered while a request is out still go together.
		kgo.ProducerLinger(0),
	}, s.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s.client = cl
	return cl, nil
}

// Close flushes nothing (every delivery waited for its record) and closes
// the client; later deliveries fail and are retried by whichever handler
// replaced this one.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	return nil
}
