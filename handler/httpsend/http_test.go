package httpsend

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func receipt() *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-000000000001", Connection: "primary", EventType: "order.paid",
		IdempotencyKey: "primary:order.paid:n1", Headers: http.Header{}, Body: []byte(`{"type":"order.paid","n":1}`),
	}
}

// destination records the requests it gets and answers status.
type destination struct {
	mu     sync.Mutex
	status int
	answer string
	got    []*http.Request
	bodies [][]byte
	srv    *httptest.Server
}

func newDestination(t *testing.T, status int, answer string) *destination {
	d := &destination{status: status, answer: answer}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.got, d.bodies = append(d.got, r), append(d.bodies, b)
		d.mu.Unlock()
		w.WriteHeader(d.status)
		io.WriteString(w, d.answer)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func newSender(t *testing.T, url, signingSecret string) *Sender {
	t.Helper()
	s, err := New(url, map[string]string{"X-Team": "payments"}, signingSecret, &http.Client{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendHeadersAndSignature: the body goes out as stored, with hookgate's
// headers and a Standard Webhooks signature the destination can verify with
// hookgate's secret.
func TestSendHeadersAndSignature(t *testing.T) {
	t.Parallel()
	d := newDestination(t, http.StatusOK, "ok")
	r := receipt()
	code, retry, err := newSender(t, d.srv.URL+"/hook", secret).Send(context.Background(), r)
	if code != 200 || retry || err != nil {
		t.Fatalf("Send = %d, %v, %v; want 200, false, nil", code, retry, err)
	}
	req, body := d.got[0], d.bodies[0]
	if string(body) != string(r.Body) || req.Method != http.MethodPost || req.URL.Path != "/hook" {
		t.Fatalf("got %s %s %q", req.Method, req.URL.Path, body)
	}
	for h, want := range map[string]string{
		HeaderReceiptID: r.ID, HeaderIdempotencyKey: r.IdempotencyKey, HeaderEventType: r.EventType,
		HeaderConnection: r.Connection, "X-Team": "payments", "Content-Type": "application/json",
		"User-Agent": "hookgate", "Webhook-Id": r.ID, "Webhook-Timestamp": strconv.FormatInt(now.Unix(), 10),
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}

	// Verified with the verify package, as an internal service would.
	v, err := verify.New(verify.Config{Auth: "svix", Secrets: []verify.Secret{{ID: "hg", Value: secret}}, ReplayWindow: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	vreq := &verify.Request{Method: http.MethodPost, URL: req.URL, Header: req.Header, Body: body, Now: now}
	if _, err := v.Verify(vreq); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	vreq.Body = []byte(`{"type":"order.paid","n":2}`)
	if _, err := v.Verify(vreq); err == nil {
		t.Fatal("signature verifies a changed body")
	}
	// And by the Standard Webhooks recipe itself: v1,base64(HMAC-SHA256(
	// base64-decoded secret, "{webhook-id}.{webhook-timestamp}.{body}")).
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", r.ID, now.Unix(), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("Webhook-Signature"); !strings.Contains(" "+got+" ", " "+want+" ") {
		t.Fatalf("webhook-signature = %q, want it to hold %q", got, want)
	}
}

// TestSendKeepsTheContentType: a receipt that arrived form-encoded goes out
// with its own content type; the hookgate headers override configured ones.
func TestSendKeepsTheContentType(t *testing.T) {
	t.Parallel()
	d := newDestination(t, http.StatusNoContent, "")
	r := receipt()
	r.Headers.Set("Content-Type", "application/x-www-form-urlencoded")
	s, err := New(d.srv.URL, map[string]string{HeaderReceiptID: "forged"}, "", &http.Client{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h := d.got[0].Header
	if h.Get("Content-Type") != "application/x-www-form-urlencoded" || h.Get(HeaderReceiptID) != r.ID {
		t.Fatalf("Content-Type %q, %s %q", h.Get("Content-Type"), HeaderReceiptID, h.Get(HeaderReceiptID))
	}
	// Without a signing secret nothing is signed.
	if h.Get("Webhook-Signature") != "" || h.Get("Webhook-Id") != "" {
		t.Fatalf("unsigned sender signed: %v", h)
	}
}

// TestSendRetryClassification is the Alertmanager contract: 2xx succeeds;
// 408, 429 and 5xx are retried; any other answer is final.
func TestSendRetryClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		wantRetry bool
		wantErr   bool
	}{
		{200, false, false}, {201, false, false}, {202, false, false}, {204, false, false},
		{408, true, true}, {429, true, true},
		{500, true, true}, {502, true, true}, {503, true, true}, {504, true, true},
		{400, false, true}, {401, false, true}, {403, false, true}, {404, false, true}, {409, false, true},
		{410, false, true}, {413, false, true}, {422, false, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			d := newDestination(t, tt.status, "answer "+strconv.Itoa(tt.status))
			code, retry, err := newSender(t, d.srv.URL, secret).Send(context.Background(), receipt())
			if code != tt.status || retry != tt.wantRetry || (err != nil) != tt.wantErr {
				t.Fatalf("Send = %d, retry %v, err %v; want %d, retry %v, error %v", code, retry, err, tt.status, tt.wantRetry, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "answer "+strconv.Itoa(tt.status)) {
				t.Errorf("error %q does not carry the destination's answer", err)
			}
		})
	}
}

// TestSendErrorBodyIsBounded: a destination's error answer is kept short in
// the attempt, however long it is.
func TestSendErrorBodyIsBounded(t *testing.T) {
	t.Parallel()
	d := newDestination(t, http.StatusInternalServerError, strings.Repeat("x", 1<<20))
	_, retry, err := newSender(t, d.srv.URL, "").Send(context.Background(), receipt())
	if !retry || err == nil {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	if n := len(err.Error()); n > 300 {
		t.Fatalf("error of %d bytes", n)
	}
}

// TestSendNetworkErrorIsRetriedWithoutCredentials: a destination that cannot
// be reached is retried, and the error names it without its credentials.
func TestSendNetworkErrorIsRetriedWithoutCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close() // nothing listens there any more
	code, retry, err := newSender(t, "http://user:pa55word@"+addr+"/hook?token=t0ken", "").Send(context.Background(), receipt())
	if code != 0 || !retry || err == nil {
		t.Fatalf("Send = %d, %v, %v; want 0, true, an error", code, retry, err)
	}
	if msg := err.Error(); strings.Contains(msg, "pa55word") || strings.Contains(msg, "t0ken") || !strings.Contains(msg, addr+"/hook") {
		t.Fatalf("error = %q", msg)
	}
}

// TestSendTimeout: the dispatcher bounds a call with its context; a
// destination that never answers is abandoned at that deadline and retried.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	type result struct {
		code  int
		retry bool
		err   error
	}
	done := make(chan result, 1)
	go func() {
		code, retry, err := newSender(t, srv.URL, "").Send(ctx, receipt())
		done <- result{code, retry, err}
	}()
	select {
	case res := <-done:
		if res.code != 0 || !res.retry || !errors.Is(res.err, context.DeadlineExceeded) {
			t.Fatalf("Send = %d, %v, %v; want 0, true, a deadline error", res.code, res.retry, res.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Send ignored its context's deadline")
	}
}

// TestSendHeaderTemplates: configured header values are filled from the
// receipt; a value taken from the body cannot split the header.
func TestSendHeaderTemplates(t *testing.T) {
	t.Parallel()
	d := newDestination(t, http.StatusOK, "ok")
	r := receipt()
	r.Headers.Set("X-Shop", "eu-1")
	r.Body = []byte(`{"type":"order.paid","data":{"id":"o_7","evil":"x\r\nX-Injected: 1"}}`)
	s, err := New(d.srv.URL, map[string]string{
		"X-Route":   "{{connection}}/{{event_type}}",
		"X-Dedupe":  "{{idempotency_key}}",
		"X-Origin":  "shop={{header:X-Shop}}",
		"X-Order":   "{{body:data.id}}",
		"X-Evil":    "{{body:data.evil}}",
		"X-Receipt": "r-{{ receipt_id }}",
		"X-Fixed":   "static",
	}, "", &http.Client{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h := d.got[0].Header
	for name, want := range map[string]string{
		"X-Route": "primary/order.paid", "X-Dedupe": r.IdempotencyKey, "X-Origin": "shop=eu-1", "X-Order": "o_7",
		"X-Evil": "x  X-Injected: 1", "X-Receipt": "r-" + r.ID, "X-Fixed": "static", "X-Injected": "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

// TestNewRejectsBadHeaders: a typo in a placeholder, a bad header name or a
// control character is refused when the configuration loads.
func TestNewRejectsBadHeaders(t *testing.T) {
	t.Parallel()
	for _, headers := range []map[string]string{
		{"X-A": "{{event}}"},
		{"X-A": "{{event_type"},
		{"Bad Name": "v"},
		{"": "v"},
		{"X-A": "line\r\nX-B: 1"},
	} {
		if _, err := New("http://127.0.0.1:1/", headers, "", &http.Client{}, time.Now); err == nil {
			t.Errorf("New accepted headers %q", headers)
		}
	}
}

// TestSendReplyKeepsTheAnswer: the destination's status, content type and
// body come back as the reply, the body bounded at MaxReplyBody, on success
// and on failure alike.
func TestSendReplyKeepsTheAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"job":"j1"}`)
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strings.Repeat("y", 3*MaxReplyBody))
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, "bad amount")
		}
	}))
	t.Cleanup(srv.Close)
	var s hookgate.Replier = newSender(t, srv.URL+"/small", "")
	reply, retry, err := s.SendReply(context.Background(), receipt())
	if err != nil || retry || reply.StatusCode != 202 || reply.ContentType != "application/json" || string(reply.Body) != `{"job":"j1"}` {
		t.Fatalf("SendReply = %+v %q, %v, %v", reply, reply.Body, retry, err)
	}
	reply, _, err = newSender(t, srv.URL+"/big", "").SendReply(context.Background(), receipt())
	// One byte past the bound, so the caller sees the reply was longer.
	if err != nil || len(reply.Body) != MaxReplyBody+1 || reply.StatusCode != 200 {
		t.Fatalf("big reply: %d bytes, status %d, %v", len(reply.Body), reply.StatusCode, err)
	}
	reply, retry, err = newSender(t, srv.URL+"/refused", "").SendReply(context.Background(), receipt())
	if err == nil || retry || reply.StatusCode != 422 || string(reply.Body) != "bad amount" {
		t.Fatalf("refused: %+v, %v, %v", reply, retry, err)
	}
}

// BenchmarkSendTemplates is the per-delivery cost of header templates
// against a loopback destination, to compare with BenchmarkSendPlain.
func BenchmarkSendTemplates(b *testing.B) {
	benchmarkSend(b, map[string]string{"X-Route": "{{connection}}/{{event_type}}", "X-Order": "{{body:n}}"})
}

// BenchmarkSendPlain is a delivery with one static header.
func BenchmarkSendPlain(b *testing.B) { benchmarkSend(b, map[string]string{"X-Team": "payments"}) }

func benchmarkSend(b *testing.B, headers map[string]string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	b.Cleanup(srv.Close)
	s, err := New(srv.URL, headers, secret, &http.Client{}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	r := receipt()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
