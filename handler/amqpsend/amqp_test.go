package amqpsend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/internal/servicetest"
	"github.com/hookgate/hookgate/internal/tcpproxy"
)

// brokerURL is the real RabbitMQ of HOOKGATE_TEST_RABBITMQ_URL.
func brokerURL(t testing.TB) string {
	t.Helper()
	return servicetest.URL(t, servicetest.RabbitMQ, "no RabbitMQ to publish to")
}

// topology is a queue (and exchange) of the test's own, bound with the
// routing key "hooks", deleted when the test ends.
type topology struct {
	ch       *amqp.Channel
	queue    string
	exchange string
}

func newTopology(t testing.TB, brokerURL string) *topology {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	tp := &topology{ch: ch, queue: "hookgate-test-" + id, exchange: "hookgate-test-" + id}
	if _, err := ch.QueueDeclare(tp.queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(tp.exchange, "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(tp.queue, "hooks", tp.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ch.QueueDelete(tp.queue, false, false, false)
		ch.ExchangeDelete(tp.exchange, false, false)
	})
	return tp
}

// messages takes every message from the queue.
func (tp *topology) messages(t testing.TB) []amqp.Delivery {
	t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := tp.ch.Get(tp.queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func receipt(n string) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-00000000000" + n, ConnectionType: "stripe", Connection: "billing",
		EventType: "invoice.paid", IdempotencyKey: "billing:invoice.paid:evt_" + n,
		Headers: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"n":` + n + `}`),
	}
}

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSender(t testing.TB, url, exchange, routingKey string) *Sender {
	t.Helper()
	s, err := New(hookgate.HandlerConfig{Name: "mq", Type: "rabbitmq", URL: url, Exchange: exchange, RoutingKey: routingKey}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t testing.TB, s *Sender, r *hookgate.Receipt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, retry, err := s.Send(ctx, r); err != nil {
		t.Fatalf("Send: %v (retry %v)", err, retry)
	}
}

// TestPublishIsConfirmedAndPersistent: through an exchange and through the
// default exchange, the message is in the queue once Send returns,
// persistent, with the idempotency key as message id and hookgate's headers.
func TestPublishIsConfirmedAndPersistent(t *testing.T) {
	t.Parallel()
	broker := brokerURL(t)
	tp := newTopology(t, broker)
	send(t, newSender(t, broker, tp.exchange, "hooks"), receipt("1"))
	send(t, newSender(t, broker, "", tp.queue), receipt("2"))
	got := tp.messages(t)
	if len(got) != 2 {
		t.Fatalf("queue holds %d messages, want 2", len(got))
	}
	for i, d := range got {
		r := receipt(string(rune('1' + i)))
		if string(d.Body) != string(r.Body) || d.DeliveryMode != amqp.Persistent || d.MessageId != r.IdempotencyKey ||
			d.Type != "invoice.paid" || d.ContentType != "application/json" || !d.Timestamp.Equal(now) || d.AppId != "hookgate" {
			t.Errorf("message %d = %+v", i, d)
		}
		if d.Headers[HeaderReceiptID] != r.ID || d.Headers[HeaderEventType] != "invoice.paid" || d.Headers[HeaderConnection] != "billing" {
			t.Errorf("message %d headers = %v", i, d.Headers)
		}
	}
}

// TestUnroutableIsRetried: a message no queue would receive comes back
// (mandatory) and is a failure to retry, not a success; the sender keeps
// working for routable messages.
func TestUnroutableIsRetried(t *testing.T) {
	t.Parallel()
	broker := brokerURL(t)
	tp := newTopology(t, broker)
	s := newSender(t, broker, tp.exchange, "nobody-listens")
	_, retry, err := s.Send(context.Background(), receipt("1"))
	if err == nil || !retry || !strings.Contains(err.Error(), "unroutable") {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	// The channel goes back to the pool; its next delivery is its own.
	good := newSender(t, broker, tp.exchange, "hooks")
	send(t, good, receipt("2"))
	_, _, err = s.Send(context.Background(), receipt("3"))
	if err == nil || !strings.Contains(err.Error(), "unroutable") {
		t.Fatalf("second unroutable: %v", err)
	}
	if n := len(tp.messages(t)); n != 1 {
		t.Fatalf("queue holds %d messages, want 1", n)
	}
}

// TestMissingExchangeIsRetried: an exchange that does not exist closes the
// channel (404); the delivery is retried and the sender recovers once the
// exchange exists.
func TestMissingExchangeIsRetried(t *testing.T) {
	t.Parallel()
	broker := brokerURL(t)
	tp := newTopology(t, broker)
	missing := tp.exchange + "-later"
	s := newSender(t, broker, missing, "hooks")
	_, retry, err := s.Send(context.Background(), receipt("1"))
	if err == nil || !retry || !strings.Contains(err.Error(), "404") {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	if err := tp.ch.ExchangeDeclare(missing, "direct", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := tp.ch.QueueBind(tp.queue, "hooks", missing, false, nil); err != nil {
		t.Fatal(err)
	}
	send(t, s, receipt("1"))
	if n := len(tp.messages(t)); n != 1 {
		t.Fatalf("queue holds %d messages, want 1", n)
	}
}

// TestBrokerDownThenBack: while RabbitMQ is unreachable deliveries fail and
// are retryable; once it is back the sender dials again and every receipt
// arrives once.
func TestBrokerDownThenBack(t *testing.T) {
	t.Parallel()
	broker := brokerURL(t)
	tp := newTopology(t, broker)
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	s := newSender(t, u.String(), tp.exchange, "hooks")
	send(t, s, receipt("1"))

	proxy.Down()
	pending := []*hookgate.Receipt{receipt("2"), receipt("3"), receipt("4")}
	for _, r := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, retry, err := s.Send(ctx, r)
		cancel()
		if err == nil || !retry {
			t.Fatalf("while down: retry %v, err %v", retry, err)
		}
		if strings.Contains(err.Error(), "guest:guest") {
			t.Fatalf("error leaks the password: %v", err)
		}
	}
	proxy.Up()
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range pending {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := s.Send(ctx, r)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receipt %s not delivered after the broker came back: %v", r.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var ids []string
	for _, d := range tp.messages(t) {
		ids = append(ids, d.MessageId[len(d.MessageId)-1:])
	}
	if strings.Join(ids, ",") != "1,2,3,4" {
		t.Fatalf("queue holds %v, want each receipt once", ids)
	}
}

// TestConcurrentPublishes share one connection, each confirmed for itself.
func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	broker := brokerURL(t)
	tp := newTopology(t, broker)
	u, _ := url.Parse(broker)
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	s := newSender(t, u.String(), tp.exchange, "hooks")
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			r := receipt("1")
			r.IdempotencyKey = "k" + string(rune('A'+i))
			_, _, err := s.Send(context.Background(), r)
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tp.messages(t)); n != 40 {
		t.Fatalf("queue holds %d, want 40", n)
	}
	if n := proxy.Accepted(); n != 1 {
		t.Fatalf("%d connections, want 1 shared", n)
	}
	s.Close()
	if _, retry, err := s.Send(context.Background(), receipt("9")); err == nil || !retry {
		t.Fatalf("after Close: retry %v, err %v", retry, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, exchange, key, want string }{
		{"", "x", "", "url is required"},
		{"http://guest:s3cret@127.0.0.1:5672/", "x", "", "must be amqp://"},
		{"amqp://127.0.0.1:5672/", "", "", "exchange or routing_key is required"},
		{"amqp://127.0.0.1:5672/", strings.Repeat("x", 256), "", "at most 255"},
	} {
		_, err := New(hookgate.HandlerConfig{URL: tt.url, Exchange: tt.exchange, RoutingKey: tt.key}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want an error containing %q", tt.url, err, tt.want)
		}
	}
}

// BenchmarkPublish is one confirmed publish to the real broker.
func BenchmarkPublish(b *testing.B) {
	broker := brokerURL(b)
	tp := newTopology(b, broker)
	s := newSender(b, broker, tp.exchange, "hooks")
	r := receipt("1")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
