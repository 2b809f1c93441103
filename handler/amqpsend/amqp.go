// Package amqpsend is the "rabbitmq" handler: it publishes each receipt to
// an exchange as a persistent message and waits for the broker's publisher
// confirm, so success means RabbitMQ has taken the message. Messages are
// published mandatory: one that no queue would receive comes back, and is
// a failure to retry rather than a silent drop.
package amqpsend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/placeholder"
)

// Headers set on every message (AMQP table headers).
const (
	HeaderReceiptID  = "Hookgate-Receipt-Id"
	HeaderEventType  = "Hookgate-Event-Type"
	HeaderConnection = "Hookgate-Connection"
)

const (
	dialTimeout = 5 * time.Second
	// redialAfter is how long a failed dial is remembered, so that while the
	// broker is unreachable deliveries fail at once instead of queueing to dial.
	redialAfter = time.Second
	// maxIdle bounds the confirm-mode channels kept open between deliveries.
	maxIdle = 32
)

// Sender publishes to one exchange over one shared connection, dialled at
// the first delivery (loading a configuration never dials) and again after
// it breaks. Each delivery borrows a confirm-mode channel of its own, so a
// confirm or a returned message always belongs to the delivery that waits
// for it.
type Sender struct {
	url        string
	exchange   string
	routingKey string
	now        func() time.Time

	mu      sync.Mutex
	conn    *amqp.Connection
	idle    []*pubChannel
	lastErr error
	lastTry time.Time
	closed  bool
}

// pubChannel is a channel in confirm mode with its notifications. It is
// used by one delivery at a time, with one message in flight.
type pubChannel struct {
	ch       *amqp.Channel
	conn     *amqp.Connection
	returns  chan amqp.Return
	closures chan *amqp.Error
}

// New checks the handler's url (amqp:// or amqps://), exchange and
// routing_key. The default exchange ("") needs a routing_key: the queue.
func New(h hookgate.HandlerConfig, now func() time.Time) (*Sender, error) {
	if h.URL == "" {
		return nil, errors.New("url is required (e.g. amqp://user:password@127.0.0.1:5672/vhost)")
	}
	if _, err := amqp.ParseURI(h.URL); err != nil {
		return nil, fmt.Errorf("url %q must be amqp://[user:password@]host[:port][/vhost] or amqps://…", Redact(h.URL))
	}
	if h.Exchange == "" && h.RoutingKey == "" {
		return nil, errors.New("exchange or routing_key is required (with the default exchange \"\", routing_key names the queue)")
	}
	if len(h.Exchange) > 255 || len(h.RoutingKey) > 255 {
		return nil, errors.New("exchange and routing_key are at most 255 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{url: h.URL, exchange: h.Exchange, routingKey: h.RoutingKey, now: now}, nil
}

// Send publishes; see SendReply.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	_, retry, err := s.SendReply(ctx, r)
	return 0, retry, err
}

// SendReply publishes the body as a persistent message (message id = the
// idempotency key, type = the event type) and waits for the confirm. A
// nack, a returned (unroutable) message, a closed channel or connection and
// a timeout are all retried. The reply is empty: RabbitMQ's confirm carries
// nothing to keep.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	pc, err := s.borrow()
	if err != nil {
		return hookgate.Reply{}, true, err
	}
	ct := r.Headers.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	msg := amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		ContentType:  placeholder.Clean(ct),
		MessageId:    r.IdempotencyKey,
		Type:         r.EventType,
		Timestamp:    s.now(),
		AppId:        "hookgate",
		Headers: amqp.Table{
			HeaderReceiptID:  r.ID,
			HeaderEventType:  r.EventType,
			HeaderConnection: r.Connection,
		},
		Body: r.Body,
	}
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, s.exchange, s.routingKey, true, false, msg)
	if err != nil {
		pc.discard()
		return hookgate.Reply{}, true, fmt.Errorf("publish to %s: %w", s.target(), err)
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		// The confirm may still come: this channel cannot be lent again.
		pc.discard()
		return hookgate.Reply{}, true, fmt.Errorf("publish to %s: no confirm: %w", s.target(), ctx.Err())
	}
	// The broker sends basic.return before the ack of a returned message,
	// and the client hands it over before it settles the confirm: if there
	// is one, it is already waiting here.
	select {
	case ret, ok := <-pc.returns:
		if !ok { // closed with the channel
			break
		}
		s.giveBack(pc)
		return hookgate.Reply{}, true, fmt.Errorf("publish to %s: returned unroutable (%d %s): no queue is bound for it", s.target(), ret.ReplyCode, ret.ReplyText)
	default:
	}
	if !dc.Acked() {
		select {
		case e := <-pc.closures:
			pc.discard()
			return hookgate.Reply{}, true, fmt.Errorf("publish to %s: %w", s.target(), e)
		default:
		}
		s.giveBack(pc)
		return hookgate.Reply{}, true, fmt.Errorf("publish to %s: the broker nacked the message", s.target())
	}
	s.giveBack(pc)
	return hookgate.Reply{}, false, nil
}

// target names the destination for messages.
func (s *Sender) target() string {
	if s.exchange == "" {
		return fmt.Sprintf("queue %q", s.routingKey)
	}
	return fmt.Sprintf("exchange %q (routing key %q)", s.exchange, s.routingKey)
}

// borrow takes an idle channel or opens one, dialling the broker first if
// the connection is gone.
func (s *Sender) borrow() (*pubChannel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("rabbitmq handler is closed")
	}
	for len(s.idle) > 0 {
		pc := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if !pc.ch.IsClosed() && pc.conn == s.conn && !s.conn.IsClosed() {
			return pc, nil
		}
		pc.discard()
	}
	if s.conn == nil || s.conn.IsClosed() {
		if s.lastErr != nil && time.Since(s.lastTry) < redialAfter {
			return nil, s.lastErr
		}
		s.lastTry = time.Now() // real time: pacing dials is not part of what a test clock drives
		conn, err := amqp.DialConfig(s.url, amqp.Config{
			Dial:       amqp.DefaultDial(dialTimeout),
			Properties: amqp.Table{"connection_name": "hookgate"},
		})
		if err != nil {
			s.lastErr = fmt.Errorf("connect to %s: %w", Redact(s.url), err)
			return nil, s.lastErr
		}
		s.conn, s.lastErr = conn, nil
	}
	ch, err := s.conn.Channel()
	if err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	return &pubChannel{
		ch:       ch,
		conn:     s.conn,
		returns:  ch.NotifyReturn(make(chan amqp.Return, 1)),
		closures: ch.NotifyClose(make(chan *amqp.Error, 1)),
	}, nil
}

// giveBack returns a channel with nothing in flight to the idle list.
func (s *Sender) giveBack(pc *pubChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || pc.ch.IsClosed() || pc.conn != s.conn || len(s.idle) >= maxIdle {
		pc.discard()
		return
	}
	s.idle = append(s.idle, pc)
}

func (pc *pubChannel) discard() { _ = pc.ch.Close() }

// Close closes the channels and the connection; later deliveries fail (and
// are retried by whichever handler replaced this one).
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, pc := range s.idle {
		pc.discard()
	}
	s.idle = nil
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		if errors.Is(err, amqp.ErrClosed) {
			err = nil
		}
		return err
	}
	return nil
}

// Redact drops the password from an AMQP URL for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < at {
				return raw[:j+3] + "…@" + raw[at+1:]
			}
		}
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
