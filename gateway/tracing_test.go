package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP/HTTP traces endpoint: it decodes what
// the exporter sends, as a collector would.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not OTLP/HTTP protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				o.spans = append(o.spans, ss.Spans...)
			}
		}
		o.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *otlpReceiver) named(prefix string) []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range o.spans {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// TestTracing: with tracing configured, a delivery makes an ingest span
// whose trace id is the receipt id, each dispatch attempt a span in the same
// trace, child of and linked to the ingest span, and the http handler
// forwards the attempt's traceparent.
func TestTracing(t *testing.T) {
	t.Parallel()
	rcv := newOTLPReceiver(t)
	s := newSink(t, 503, 200)
	tg := newTestGateway(t, `
unsigned_forwarding: true
tracing: {otlp_endpoint: "`+rcv.srv.URL+`/v1/traces"}
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`", retry: {initial_interval: 1ms, max_interval: 1ms}}
connections:
  - {type: internal, name: tr, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward]}]}
`)
	status, _ := tg.post("/webhooks/internal/tr", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"},
		// A sender's own trace becomes a link of the ingest span.
		"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}, []byte(`{}`))
	if status != http.StatusNoContent {
		t.Fatalf("status %d", status)
	}
	tg.drain()
	tg.clock.Add(time.Second)
	tg.drain()
	if s.count() != 2 {
		t.Fatalf("sink got %d attempts, want 2 (a 503, then a 200)", s.count())
	}
	if err := tg.Close(); err != nil { // flushes the exporter
		t.Fatal(err)
	}

	ingest := rcv.named("webhook.ingest")
	attempts := rcv.named("webhook.dispatch forward")
	if len(ingest) != 1 || len(attempts) != 2 {
		t.Fatalf("exported %d ingest and %d attempt spans, want 1 and 2", len(ingest), len(attempts))
	}
	in := ingest[0]
	var receiptID string
	for _, kv := range in.Attributes {
		if kv.Key == "hookgate.receipt_id" {
			receiptID = kv.Value.GetStringValue()
		}
	}
	u := uuid.MustParse(receiptID)
	if !bytes.Equal(in.TraceId, u[:]) {
		t.Errorf("ingest trace id %x, want the receipt id %s", in.TraceId, receiptID)
	}
	if len(in.Links) != 1 || hex.EncodeToString(in.Links[0].TraceId) != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("ingest span links %v, want the sender's traceparent", in.Links)
	}
	s.mu.Lock()
	got := s.got
	s.mu.Unlock()
	for i, a := range attempts {
		if !bytes.Equal(a.TraceId, in.TraceId) || !bytes.Equal(a.ParentSpanId, in.SpanId) {
			t.Errorf("attempt %d: trace %x parent %x, want trace %x parent %x", i, a.TraceId, a.ParentSpanId, in.TraceId, in.SpanId)
		}
		if len(a.Links) != 1 || !bytes.Equal(a.Links[0].SpanId, in.SpanId) {
			t.Errorf("attempt %d is not linked to the ingest span: %v", i, a.Links)
		}
		// The destination saw this attempt's span as its parent.
		want := "00-" + hex.EncodeToString(a.TraceId) + "-" + hex.EncodeToString(a.SpanId) + "-01"
		found := false
		for _, r := range got {
			found = found || r.Header.Get("Traceparent") == want
		}
		if !found {
			t.Errorf("no forwarded request carried traceparent %s", want)
		}
	}
	if attempts[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR && attempts[1].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Error("the failed attempt's span is not marked as an error")
	}
}

// TestTracingOff: without an endpoint nothing is traced and no traceparent
// is forwarded.
func TestTracingOff(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+s.srv.URL+`"}
connections:
  - {type: internal, name: tr, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward]}]}
`)
	tg.post("/webhooks/internal/tr", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.drain()
	if tg.tracer != nil || tg.dispatcher.Tracer != nil {
		t.Fatal("a tracer was built without an endpoint")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 1 || s.got[0].Header.Get("Traceparent") != "" {
		t.Errorf("forwarded %d requests, traceparent %q; want one without", len(s.got), s.got[0].Header.Get("Traceparent"))
	}
}
