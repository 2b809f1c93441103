package natssend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/internal/servicetest"
	"github.com/hookgate/hookgate/internal/tcpproxy"
)

// serverURL is the real NATS server of HOOKGATE_TEST_NATS_URL.
func serverURL(t testing.TB) string {
	t.Helper()
	return servicetest.URL(t, servicetest.NATS, "no NATS server to publish to")
}

// testStream creates a stream of its own for the test (unique name and
// subjects, so parallel runs never meet) and returns a subject it captures.
func testStream(t testing.TB, serverURL string) (jetstream.Stream, string) {
	t.Helper()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	id := hex.EncodeToString(suffix)
	nc, err := nats.Connect(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := "HOOKGATE_TEST_" + strings.ToUpper(id)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"hookgate-test." + id + ".>"}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	})
	return st, "hookgate-test." + id + ".webhooks"
}

func receipt(n string) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-00000000000" + n, ConnectionType: "github", Connection: "primary",
		EventType: "push", IdempotencyKey: "primary:push:d" + n,
		Headers: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"n":` + n + `}`),
	}
}

func newSender(t testing.TB, url, subject string) *Sender {
	t.Helper()
	s, err := New(hookgate.HandlerConfig{Name: "bus", Type: "nats", URL: url, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t testing.TB, s *Sender, r *hookgate.Receipt) ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, retry, err := s.SendReply(ctx, r)
	if err != nil {
		t.Fatalf("SendReply: %v (retry %v)", err, retry)
	}
	var a ack
	if err := json.Unmarshal(reply.Body, &a); err != nil || reply.ContentType != "application/json" {
		t.Fatalf("reply %q (%s): %v", reply.Body, reply.ContentType, err)
	}
	return a
}

// TestPublishIsAckedAndStored: the message is in the stream once Send
// returns, with the body as stored and hookgate's headers.
func TestPublishIsAckedAndStored(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	st, subject := testStream(t, srv)
	s := newSender(t, srv, subject)
	r := receipt("1")
	a := send(t, s, r)
	if a.Stream != st.CachedInfo().Config.Name || a.Sequence != 1 || a.Duplicate {
		t.Fatalf("ack = %+v", a)
	}
	// Read it back without waiting: the ack means it is stored.
	m, err := st.GetMsg(context.Background(), a.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != string(r.Body) || m.Subject != subject {
		t.Fatalf("stored %s %q", m.Subject, m.Data)
	}
	for h, want := range map[string]string{
		"Nats-Msg-Id": r.IdempotencyKey, HeaderReceiptID: r.ID, HeaderIdempotencyKey: r.IdempotencyKey,
		HeaderEventType: "push", HeaderConnection: "primary", HeaderContentType: "application/json",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
}

// TestRedeliveryIsDeduplicated: the same receipt sent again (a retry after
// a lost ack, a replay) is dropped by JetStream on its Nats-Msg-Id.
func TestRedeliveryIsDeduplicated(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	st, subject := testStream(t, srv)
	s := newSender(t, srv, subject)
	first := send(t, s, receipt("1"))
	again := send(t, s, receipt("1"))
	other := send(t, s, receipt("2"))
	if first.Duplicate || !again.Duplicate || again.Sequence != first.Sequence || other.Duplicate || other.Sequence != 2 {
		t.Fatalf("acks %+v, %+v, %+v", first, again, other)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2", info.State.Msgs)
	}
}

// TestNoStreamIsRetried: a subject no stream captures gets no ack; that is a
// failure to retry (the stream may be created), never a success.
func TestNoStreamIsRetried(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	s := newSender(t, srv, "hookgate-test.nostream."+strings.ReplaceAll(t.Name(), "/", "_"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, retry, err := s.Send(ctx, receipt("1"))
	if err == nil || !retry || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("retry %v, err %v", retry, err)
	}
}

// TestServerDownThenBack: while the server is unreachable every delivery
// fails fast and is retryable; once it is back, the same connection
// reconnects and every receipt arrives exactly once.
func TestServerDownThenBack(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	st, subject := testStream(t, srv)
	u, err := url.Parse(srv)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	s := newSender(t, "nats://"+proxy.Addr(), subject)
	send(t, s, receipt("1"))

	proxy.Down()
	pending := []*hookgate.Receipt{receipt("2"), receipt("3"), receipt("4")}
	for _, r := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, retry, err := s.Send(ctx, r)
		cancel()
		if err == nil || !retry {
			t.Fatalf("while down: retry %v, err %v", retry, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("a delivery while down took %v", took)
		}
	}

	proxy.Up()
	// The dispatcher's retries, compressed: try each until it is acked.
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range append(pending, receipt("2")) { // 2 twice: a retry of an acked one
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := s.Send(ctx, r)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receipt %s not delivered after the server came back: %v", r.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Fatalf("stream holds %d messages, want 4 (each receipt once)", info.State.Msgs)
	}
	if proxy.Accepted() < 2 {
		t.Fatalf("the sender never reconnected (%d connections)", proxy.Accepted())
	}
}

// TestFirstDeliveryDialsAndCloseHangsUp: loading the handler does not dial;
// the first delivery does, later ones share that connection; Close ends it.
func TestFirstDeliveryDialsAndCloseHangsUp(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	_, subject := testStream(t, srv)
	u, _ := url.Parse(srv)
	proxy := tcpproxy.Start(t, u.Host)
	s := newSender(t, "nats://"+proxy.Addr(), subject)
	if proxy.Accepted() != 0 {
		t.Fatal("New dialled")
	}
	for i := range 5 {
		send(t, s, receipt(string(rune('1'+i))))
	}
	if n := proxy.Accepted(); n != 1 {
		t.Fatalf("%d connections for 5 deliveries, want 1 shared", n)
	}
	s.Close()
	if _, retry, err := s.Send(context.Background(), receipt("9")); err == nil || !retry {
		t.Fatalf("after Close: retry %v, err %v", retry, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, subject, want string }{
		{"", "a.b", "url is required"},
		{"http://127.0.0.1:4222", "a.b", "must be nats://"},
		{"nats://user:s3cret@", "a.b", "must be nats://"},
		{"nats://127.0.0.1:4222", "", "subject is required"},
		{"nats://127.0.0.1:4222", "a.*", "literal subject"},
		{"nats://127.0.0.1:4222", "a.>", "literal subject"},
		{"nats://127.0.0.1:4222", "a..b", "literal subject"},
		{"nats://127.0.0.1:4222", "a b", "literal subject"},
	} {
		_, err := New(hookgate.HandlerConfig{URL: tt.url, Subject: tt.subject})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q, %q) = %v, want an error containing %q", tt.url, tt.subject, err, tt.want)
		}
	}
}

// BenchmarkPublish is one acked publish to the real server.
func BenchmarkPublish(b *testing.B) {
	srv := serverURL(b)
	_, subject := testStream(b, srv)
	s := newSender(b, srv, subject)
	r := receipt("1")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r.IdempotencyKey = "k" + strconv.Itoa(i)
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
