package redissend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/internal/servicetest"
	"github.com/hookgate/hookgate/internal/tcpproxy"
)

// serverURL is the real Redis of HOOKGATE_TEST_REDIS_URL.
func serverURL(t testing.TB) string {
	t.Helper()
	return servicetest.URL(t, servicetest.Redis, "no Redis to XADD to")
}

// testStream names a stream of the test's own and deletes it at the end.
func testStream(t testing.TB, serverURL string) (*redis.Client, string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	key := "hookgate-test:" + hex.EncodeToString(b)
	opts, err := redis.ParseURL(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Del(context.Background(), key); c.Close() })
	return c, key
}

func receipt(n string) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-00000000000" + n, ConnectionType: "shopify", Connection: "shop",
		EventType: "orders/create", IdempotencyKey: "shop:orders/create:w" + n,
		Headers: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"n":` + n + `}`),
	}
}

func newSender(t testing.TB, url, stream string) *Sender {
	t.Helper()
	s, err := New(hookgate.HandlerConfig{Name: "events", Type: "redis", URL: url, Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// viaProxy is serverURL with its host replaced by the proxy's.
func viaProxy(t testing.TB, serverURL string) (string, *tcpproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.Start(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// TestXAddStoresTheReceipt: once Send returns, the entry is in the stream
// with the receipt's id, idempotency key, event type and body.
func TestXAddStoresTheReceipt(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	c, stream := testStream(t, srv)
	s := newSender(t, srv, stream)
	r := receipt("1")
	var replier hookgate.Replier = s
	reply, retry, err := replier.SendReply(context.Background(), r)
	if err != nil || retry {
		t.Fatalf("SendReply: %v (retry %v)", err, retry)
	}
	var got struct{ Stream, ID string }
	if err := json.Unmarshal(reply.Body, &got); err != nil || got.Stream != stream || got.ID == "" {
		t.Fatalf("reply %q: %v", reply.Body, err)
	}
	entries, err := c.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].ID != got.ID {
		t.Fatalf("stream holds %+v (%v), want the one entry %s", entries, err, got.ID)
	}
	for k, want := range map[string]string{
		FieldReceiptID: r.ID, FieldIdempotencyKey: r.IdempotencyKey, FieldEventType: "orders/create",
		FieldConnection: "shop", FieldConnectionType: "shopify", FieldContentType: "application/json", FieldBody: string(r.Body),
	} {
		if v := entries[0].Values[k]; v != want {
			t.Errorf("field %s = %v, want %q", k, v, want)
		}
	}
}

// TestWrongTypeIsRetried: a key that is not a stream is an error to retry
// (an operator can fix it), never a success.
func TestWrongTypeIsRetried(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	c, key := testStream(t, srv)
	if err := c.Set(context.Background(), key, "not a stream", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, retry, err := newSender(t, srv, key).Send(context.Background(), receipt("1"))
	if err == nil || !retry || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("retry %v, err %v", retry, err)
	}
}

// TestServerDownThenBack: while Redis is unreachable deliveries fail and
// are retryable; once it is back they go through and each arrives once.
func TestServerDownThenBack(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	c, stream := testStream(t, srv)
	proxied, proxy := viaProxy(t, srv)
	s := newSender(t, proxied, stream)
	if _, _, err := s.Send(context.Background(), receipt("1")); err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	pending := []*hookgate.Receipt{receipt("2"), receipt("3"), receipt("4")}
	for _, r := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, retry, err := s.Send(ctx, r)
		cancel()
		if err == nil || !retry {
			t.Fatalf("while down: retry %v, err %v", retry, err)
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
				t.Fatalf("receipt %s not delivered after Redis came back: %v", r.ID, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	entries, err := c.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Values[FieldReceiptID].(string))
	}
	if want := "1,2,3,4"; len(ids) != 4 || strings.Join(lastDigits(ids), ",") != want {
		t.Fatalf("stream holds receipts %v, want each of %s once", ids, want)
	}
}

func lastDigits(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[len(id)-1:]
	}
	return out
}

// TestCloseHangsUp: after Close no delivery goes through.
func TestCloseHangsUp(t *testing.T) {
	t.Parallel()
	srv := serverURL(t)
	_, stream := testStream(t, srv)
	s := newSender(t, srv, stream)
	if _, _, err := s.Send(context.Background(), receipt("1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, retry, err := s.Send(context.Background(), receipt("2")); err == nil || !retry {
		t.Fatalf("after Close: retry %v, err %v", retry, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, stream, want string }{
		{"", "s", "url is required"},
		{"http://127.0.0.1:6379", "s", "url must be"},
		{"redis://:s3cret@127.0.0.1:6379/notadb", "s", "url must be"},
		{"redis://127.0.0.1:6379/0", "", "stream is required"},
	} {
		_, err := New(hookgate.HandlerConfig{URL: tt.url, Stream: tt.stream})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q, %q) = %v, want an error containing %q", tt.url, tt.stream, err, tt.want)
		}
	}
}

// BenchmarkXAdd is one XADD to the real server.
func BenchmarkXAdd(b *testing.B) {
	srv := serverURL(b)
	_, stream := testStream(b, srv)
	s := newSender(b, srv, stream)
	r := receipt("1")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
