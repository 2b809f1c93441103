package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// signedGitHub signs body as GitHub does, with secret.
func signedGitHub(secret, delivery string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-GitHub-Event", "push")
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// rawRequest writes an HTTP/1.1 request head with these headers on c (and
// no body).
func rawRequest(t testing.TB, c net.Conn, path string, h http.Header, contentLength string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: hookgate.test\r\n", path)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if contentLength != "" {
		fmt.Fprintf(&b, "Content-Length: %s\r\n", contentLength)
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Bounds every read and write of the test.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func readResponse(t testing.TB, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// waitUntil polls cond until it holds; past 10 s the test fails.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxPayloadBytesIsCapped: max_payload_bytes above 64 MiB, or not
// positive, is refused at start (naming the key), by `config check` (the
// same validation) and by the admin API (400), wherever it is set.
func TestMaxPayloadBytesIsCapped(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"4611686018427387904", "9223372036854775807", "67108865", "-1"} {
		cfg, _, err := config.Parse([]byte("webhooks: {max_payload_bytes: " + v + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Storage.URL = sqliteURL(t)
		if _, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil ||
			!strings.Contains(err.Error(), "webhooks.max_payload_bytes") {
			t.Errorf("serve with webhooks.max_payload_bytes %s: err = %v, want a refusal naming the key", v, err)
		}
		if err := Check(cfg); err == nil || !strings.Contains(err.Error(), "webhooks.max_payload_bytes") {
			t.Errorf("config check with webhooks.max_payload_bytes %s: err = %v", v, err)
		}
		cfg, _, err = config.Parse([]byte("connections:\n  - {type: github, name: gh, signing_secret: s, max_payload_bytes: " + v + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(cfg); err == nil || !strings.Contains(err.Error(), "max_payload_bytes") {
			t.Errorf("config check with a connection's max_payload_bytes %s: err = %v", v, err)
		}
	}

	tg := newTestGateway(t, "")
	for _, v := range []int64{1 << 62, 1<<63 - 1, 64<<20 + 1, 0, -1} {
		var e struct{ Error, Message string }
		conn := map[string]any{"type": "github", "name": "big", "signing_secret": "s", "max_payload_bytes": v}
		if st := tg.api("POST", "/api/v1/connections", conn, &e); st != http.StatusBadRequest || !strings.Contains(e.Message, "max_payload_bytes") {
			t.Errorf("create with max_payload_bytes %d = %d %+v, want 400 naming the key", v, st, e)
		}
	}
	ok := map[string]any{"type": "github", "name": "big", "signing_secret": "s", "max_payload_bytes": 64 << 20}
	if st := tg.api("POST", "/api/v1/connections", ok, nil); st != http.StatusCreated {
		t.Fatalf("create with max_payload_bytes 64 MiB = %d", st)
	}
	if st := tg.api("PATCH", "/api/v1/connections/github/big", map[string]any{"max_payload_bytes": int64(1) << 62}, nil); st != http.StatusBadRequest {
		t.Fatalf("update to max_payload_bytes 2^62 = %d, want 400", st)
	}
}

// TestBodyBufferGrowsWithArrivedBytes: a request that declares the largest
// allowed body and sends 1 KiB costs about 1 KiB, not the declared length;
// a declared length above the limit is 413 before any byte is read, and
// the gateway still serves.
func TestBodyBufferGrowsWithArrivedBytes(t *testing.T) {
	// Not parallel: it reads the process's allocation counter.
	tg := newTestGateway(t, `
webhooks: {max_payload_bytes: 67108864}
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`)
	addr := strings.TrimPrefix(tg.ingest.URL, "http://")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := dial(t, addr)
	rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", "d1", nil), "67108864")
	if _, err := c.Write(bytes.Repeat([]byte("x"), 1024)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite() // the sender gives up
	resp, _ := readResponse(t, c)
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("truncated body = %d, want 400", resp.StatusCode)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("a 64 MiB declaration with 1 KiB sent allocated %d bytes", alloc)
	}

	// Content-Length 2^62: 413 without reading, and the process lives on.
	c = dial(t, addr)
	rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", "d2", nil), "4611686018427387904")
	resp, body := readResponse(t, c)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("Content-Length 2^62 = %d %s, want 413", resp.StatusCode, body)
	}
	assertErrorBody(t, body, hookgate.ETooLarge)
	payload := []byte(`{"zen":"alive"}`)
	if st, b := tg.post("/webhooks/github/gh", signedGitHub("s3cret", "d3", payload), payload); st != http.StatusNoContent {
		t.Fatalf("after the huge declaration, a delivery = %d %s", st, b)
	}
}

// TestInflightBodyBudget: past limits.inflight_body_bytes, ingress answers
// 503 with Retry-After and a JSON error at once, without reading the body;
// the budget comes back when the held requests end.
func TestInflightBodyBudget(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
webhooks: {max_payload_bytes: 1048576}
limits: {inflight_body_bytes: 2097152}
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`)
	lim := tg.ingress.Limits
	addr := strings.TrimPrefix(tg.ingest.URL, "http://")
	// Two senders declare 1 MiB each, send a little, and stall.
	var stalled []net.Conn
	for i := range 2 {
		c := dial(t, addr)
		rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", fmt.Sprint("stall", i), nil), "1048576")
		if _, err := c.Write([]byte(`{"a":"`)); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	waitUntil(t, "two reservations", func() bool { return lim.InflightBodyBytes() == 2<<20 })

	// The next one does not fit: 503 before its body is sent.
	c := dial(t, addr)
	rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", "third", nil), "100")
	resp, body := readResponse(t, c)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the budget = %d (Retry-After %q) %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	assertErrorBody(t, body, hookgate.EOverloaded)
	// A chunked body reserves as it grows, and is refused the same way.
	c = dial(t, addr)
	rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", "chunked", nil), "")
	if _, err := io.WriteString(c, "1000\r\n"+strings.Repeat(" ", 0x1000)+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, c); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("chunked over the budget = %d %s, want 503", resp.StatusCode, body)
	}

	// The stalled senders give up: the budget is free again.
	for _, c := range stalled {
		c.Close()
	}
	waitUntil(t, "the budget to return", func() bool { return lim.InflightBodyBytes() == 0 })
	payload := []byte(`{"zen":"fits again"}`)
	if st, b := tg.post("/webhooks/github/gh", signedGitHub("s3cret", "after", payload), payload); st != http.StatusNoContent {
		t.Fatalf("after the stall = %d %s", st, b)
	}
	if n := lim.InflightBodyBytes(); n != 0 {
		t.Fatalf("%d bytes still reserved after every request ended", n)
	}
}

// TestConnectionLimit: past limits.max_connections, a new connection's
// request is answered 503 with Retry-After and the connection is closed;
// past twice the limit a connection is closed unanswered; a freed slot is
// usable again.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	cfg, _, err := config.Parse([]byte(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
limits: {max_connections: 2}
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db")
	gw, ls := serveGateway(t, cfg, Options{Logger: slog.New(slog.DiscardHandler), NoDispatch: true})
	addr, lim := ls.Public.Addr().String(), gw.ingress.Limits

	deliver := func(c net.Conn, id string) (*http.Response, []byte) {
		payload := []byte(`{"zen":"` + id + `"}`)
		rawRequest(t, c, "/webhooks/github/gh", signedGitHub("s3cret", id, payload), fmt.Sprint(len(payload)))
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		return readResponse(t, c)
	}
	held := []net.Conn{dial(t, addr), dial(t, addr)}
	waitUntil(t, "two connections", func() bool { return lim.Connections() == 2 })
	// A connection within the limit is served as usual, again and again.
	for i := range 2 {
		if resp, body := deliver(held[0], fmt.Sprint("held", i)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("within the limit = %d %s", resp.StatusCode, body)
		}
	}

	over := []net.Conn{dial(t, addr), dial(t, addr)}
	waitUntil(t, "four connections", func() bool { return lim.Connections() == 4 })
	for i, c := range over {
		resp, body := deliver(c, fmt.Sprint("over", i))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
			t.Fatalf("over the limit = %d (Retry-After %q, close %v) %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
		}
		assertErrorBody(t, body, hookgate.EOverloaded)
	}
	waitUntil(t, "the answered connections to close", func() bool { return lim.Connections() == 2 })

	// Past twice the limit, a connection is closed at once.
	more := []net.Conn{dial(t, addr), dial(t, addr)}
	waitUntil(t, "four connections", func() bool { return lim.Connections() == 4 })
	c := dial(t, addr)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection past twice the limit read %d bytes, want it closed", n)
	}
	for _, c := range more {
		c.Close()
	}

	held[1].Close()
	waitUntil(t, "a free slot", func() bool { return lim.Connections() == 1 })
	if resp, body := deliver(dial(t, addr), "freed"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("in a freed slot = %d %s", resp.StatusCode, body)
	}
}

// TestDeeplyNestedBodyIs400: a signed body of 100,000 nested arrays is
// refused with 400 malformed_payload, and handling it needs no deep stack
// (the goroutine stack is capped at 1 MiB for the test; a check that
// recurses per level needs tens of MiB and kills the process).
func TestDeeplyNestedBodyIs400(t *testing.T) {
	// Not parallel: the stack cap is process-wide.
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`)
	body := []byte(`{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`)
	defer debug.SetMaxStack(debug.SetMaxStack(1 << 20))
	st, b := tg.post("/webhooks/github/gh", signedGitHub("s3cret", "deep", body), body)
	if st != http.StatusBadRequest {
		t.Fatalf("100k nested arrays = %d %s, want 400", st, b)
	}
	assertErrorBody(t, b, hookgate.EMalformed)
}

// TestStoredBodiesIntactUnderConcurrency: body buffers are reused across
// requests; every stored body is still exactly the one its request sent,
// under concurrent ingest of small and large bodies, on each store.
func TestStoredBodiesIntactUnderConcurrency(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
webhooks: {max_payload_bytes: 2097152}
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`)
		const n = 120
		bodies := make([][]byte, n)
		for i := range bodies {
			// Sizes from tiny to past the pooled size, each one distinct.
			pad := strings.Repeat(string(rune('a'+i%26)), (i*i*37)%(600<<10))
			bodies[i] = []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, pad))
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		errs := make(chan string, n)
		for i := range bodies {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				req, _ := http.NewRequest(http.MethodPost, tg.ingest.URL+"/webhooks/github/gh", bytes.NewReader(bodies[i]))
				req.Header = signedGitHub("s3cret", fmt.Sprint("d", i), bodies[i])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Sprintf("delivery %d = %d", i, resp.StatusCode)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		rs := tg.receipts("gh")
		if len(rs) != n {
			t.Fatalf("%d receipts, want %d", len(rs), n)
		}
		for _, r := range rs {
			full, err := tg.Store().Receipt(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var i int
			if _, err := fmt.Sscanf(full.Nonce, "d%d", &i); err != nil {
				t.Fatalf("nonce %q", full.Nonce)
			}
			if !bytes.Equal(full.Body, bodies[i]) {
				t.Fatalf("receipt %s (delivery %d): stored body of %d bytes differs from the %d sent", r.ID, i, len(full.Body), len(bodies[i]))
			}
		}
	})
}

// TestForgedHandshakeBodyIsNotParsed: on connections whose handshake is
// signed and recognised by its body (Slack, Zoom, Discord), a forged 1 MiB
// body that looks like a handshake is refused (401) without being parsed:
// handling it allocates about the body itself, not a decoded tree of it.
func TestForgedHandshakeBodyIsNotParsed(t *testing.T) {
	// Not parallel: it reads the process's allocation counter.
	tg := newTestGateway(t, `
webhooks: {max_payload_bytes: 2097152}
connections:
  - {type: slack, name: sl, signing_secret: slack-secret}
  - {type: zoom, name: zm, signing_secret: zoom-secret}
  - {type: discord, name: dc, signing_secret: "`+hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))+`"}
`)
	items := strings.Repeat(`{"a":1},`, (1<<20)/8)
	bodies := map[string]string{
		"/webhooks/slack/sl":   `{"type":"url_verification","challenge":"c","event":{"items":[` + items + `{}]}}`,
		"/webhooks/zoom/zm":    `{"event":"endpoint.url_validation","payload":{"plainToken":"t","items":[` + items + `{}]}}`,
		"/webhooks/discord/dc": `{"type":1,"data":{"items":[` + items + `{}]}}`,
	}
	for path, body := range bodies {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		now := fmt.Sprint(tg.clock.Now().Unix())
		h.Set("X-Slack-Request-Timestamp", now)
		h.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
		h.Set("X-Zm-Request-Timestamp", now)
		h.Set("X-Zm-Signature", "v0="+strings.Repeat("0", 64))
		h.Set("X-Signature-Timestamp", now)
		h.Set("X-Signature-Ed25519", strings.Repeat("0", 128))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, b := tg.post(path, h, []byte(body))
		runtime.ReadMemStats(&after)
		if st != http.StatusUnauthorized {
			t.Fatalf("%s: forged handshake = %d %s, want 401", path, st, b)
		}
		// The body (1 MiB) arrives, is read, and is kept as a rejected
		// receipt; a decode into maps would allocate tens of MiB.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: a forged 1 MiB handshake allocated %d KiB", path, alloc>>10)
		if alloc > 12<<20 {
			t.Errorf("%s: a forged 1 MiB handshake allocated %d MiB", path, alloc>>20)
		}
	}
}

// TestChunkedBodyLimit: a body of unknown length (chunked) is held to
// max_payload_bytes while it is read: at the limit it is accepted, one
// byte past it is 413.
func TestChunkedBodyLimit(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
webhooks: {max_payload_bytes: 300000}
connections:
  - {type: github, name: gh, signing_secret: s3cret}
`)
	for _, tt := range []struct {
		size int
		want int
	}{{300000, http.StatusNoContent}, {300001, http.StatusRequestEntityTooLarge}, {10, http.StatusNoContent}} {
		body := []byte(`{"p":"` + strings.Repeat("x", tt.size-8) + `"}`)
		// A reader without a known length: the client sends it chunked.
		req, _ := http.NewRequest(http.MethodPost, tg.ingest.URL+"/webhooks/github/gh", io.MultiReader(bytes.NewReader(body)))
		req.Header = signedGitHub("s3cret", fmt.Sprint("chunked", tt.size), body)
		if req.ContentLength != 0 {
			t.Fatalf("request has a known length %d", req.ContentLength)
		}
		st, b := do(t, req)
		if st != tt.want {
			t.Fatalf("chunked body of %d bytes = %d %s, want %d", len(body), st, b, tt.want)
		}
	}
	if n := tg.ingress.Limits.InflightBodyBytes(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
}
