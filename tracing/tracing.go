// Package tracing exports OpenTelemetry traces over OTLP/HTTP when
// configured (tracing.otlp_endpoint); it is off otherwise and then costs
// nothing on the ingest path.
//
// Traces follow a receipt across the durable hand-off between ingress and
// dispatch without storing anything: the ingest span's trace id is the
// receipt id (a UUID is 16 bytes, as a trace id is) and its span id is
// derived from it, so each dispatch attempt, possibly in another process or
// after a restart, starts a span in the same trace, as a child of and linked
// to the ingest span. A traceparent the sender sent is kept as a link of
// the ingest span (the delivery starts a trace of its own: its dispatch may
// run hours later).
package tracing

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// Tracer makes hookgate's spans. A nil *Tracer is off: every method is a
// no-op.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// New starts the exporter. It answers nil (off) when no endpoint is set.
func New(cfg config.Tracing) (*Tracer, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint),
		otlptracehttp.WithHeaders(cfg.Headers))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "hookgate"
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	res := resource.NewSchemaless(semconv.ServiceName(name))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(receiptIDs{}),
		// The ratio samples by trace id, which is the receipt id: a
		// delivery's ingest and all its attempts are kept or dropped
		// together, in every process.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return &Tracer{provider: tp, tracer: tp.Tracer("github.com/hookgate/hookgate")}, nil
}

// Shutdown exports what is buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

type receiptKey struct{}

// ingestIDs are the ids of a receipt's ingest span: its trace id is the
// receipt id, its span id the first 8 bytes of SHA-256 of it.
func ingestIDs(receiptID string) (trace.TraceID, trace.SpanID, bool) {
	u, err := uuid.Parse(receiptID)
	if err != nil {
		return trace.TraceID{}, trace.SpanID{}, false
	}
	sum := sha256.Sum256(u[:])
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	if !sid.IsValid() {
		sid[7] = 1
	}
	return trace.TraceID(u), sid, true
}

// IngestContext is the span context of receipt id's ingest span (valid when
// id is a UUID).
func IngestContext(receiptID string) trace.SpanContext {
	tid, sid, ok := ingestIDs(receiptID)
	if !ok {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// receiptIDs gives an ingest span the ids derived from its receipt and any
// other span random ones.
type receiptIDs struct{}

func (receiptIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if id, ok := ctx.Value(receiptKey{}).(string); ok {
		if tid, sid, ok := ingestIDs(id); ok {
			return tid, sid
		}
	}
	return trace.TraceID(uuid.New()), randomSpanID()
}

func (receiptIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	u := uuid.New()
	copy(sid[:], u[8:])
	if !sid.IsValid() {
		sid[7] = 1
	}
	return sid
}

// TraceRequest records the ingest span of one answered request, after the
// fact (it starts at start and ends now): the receipt id is known only once
// the delivery is stored. receiptID is empty for a request that stored no
// delivery.
func (t *Tracer) TraceRequest(r *http.Request, start time.Time, connection, receiptID string, status int, errorType string) {
	if t == nil {
		return
	}
	ctx := context.Background()
	opts := []trace.SpanStartOption{trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLPath(r.URL.Path),
			semconv.HTTPResponseStatusCode(status),
			attribute.String("hookgate.connection", connection),
		)}
	if receiptID != "" {
		ctx = context.WithValue(ctx, receiptKey{}, receiptID)
		opts = append(opts, trace.WithAttributes(attribute.String("hookgate.receipt_id", receiptID)))
	}
	// The sender's own trace, if it sent one, is a link: the delivery's
	// trace is its own (its dispatch may run much later).
	if sc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), propagation.HeaderCarrier(r.Header))); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	_, span := t.tracer.Start(ctx, "webhook.ingest", opts...)
	if errorType != "" {
		span.SetStatus(codes.Error, errorType)
		span.SetAttributes(attribute.String("hookgate.error", errorType))
	}
	span.End()
}

// StartAttempt starts the span of one dispatch attempt of r to handler,
// in the receipt's trace, as a child of and linked to its ingest span. The
// returned context carries it (the http handler forwards it as
// traceparent); end records the outcome.
func (t *Tracer) StartAttempt(ctx context.Context, r *hookgate.Receipt, handler string, number int) (context.Context, func(a hookgate.Attempt)) {
	if t == nil {
		return ctx, func(hookgate.Attempt) {}
	}
	ingest := IngestContext(r.ID)
	parent := ctx
	var links []trace.Link
	if ingest.IsValid() {
		parent = trace.ContextWithRemoteSpanContext(ctx, ingest)
		links = append(links, trace.Link{SpanContext: ingest})
	}
	ctx, span := t.tracer.Start(parent, "webhook.dispatch "+handler, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("hookgate.receipt_id", r.ID),
			attribute.String("hookgate.connection", r.Connection),
			attribute.String("hookgate.event_type", r.EventType),
			attribute.String("hookgate.handler", handler),
			attribute.Int("hookgate.attempt", number),
		))
	return ctx, func(a hookgate.Attempt) {
		if a.StatusCode != 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(a.StatusCode))
		}
		span.SetAttributes(attribute.String("hookgate.outcome", string(a.Outcome)))
		if a.Outcome != hookgate.OutcomeSuccess {
			span.SetStatus(codes.Error, a.Error)
		}
		span.End()
	}
}

// Inject writes the traceparent of the span in ctx into h (nothing when ctx
// carries none, as when tracing is off).
func Inject(ctx context.Context, h http.Header) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	}
}
