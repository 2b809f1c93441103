// Package metrics exposes hookgate's Prometheus metrics (SPEC §6) from a
// private registry: ingress requests, their latency and the refused ones per
// connection; processing (a dispatch, from the dispatcher taking a receipt up
// to its committed outcome) and its failures by type, as seed 002 uses them;
// receipt transitions, receipts by state, attempts by handler and outcome,
// and the queue's depth and oldest pending age read from the store at scrape
// time.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookgate/hookgate"
)

// QueueStats reads the dispatch queue; a store implements it.
type QueueStats interface {
	QueueStats(ctx context.Context, now time.Time) (depth int64, oldest time.Duration, err error)
}

// Metrics holds the collectors. The zero value is not usable; call New.
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	ingress     *prometheus.HistogramVec
	rejected    *prometheus.CounterVec
	processing  *prometheus.HistogramVec
	failures    *prometheus.CounterVec
	transitions *prometheus.CounterVec
	byStatus    map[hookgate.Status]prometheus.Counter // transitions' children, resolved once
	attempts    *prometheus.CounterVec
}

// New registers the collectors on a new registry. queue may be nil.
func New(queue QueueStats, now func() time.Time) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_webhook_requests_total",
			Help: "Webhook requests answered by ingress, by connection and HTTP status.",
		}, []string{"connection", "status"}),
		ingress: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookgate_webhook_ingress_seconds",
			Help:    "Ingress latency: request start to answer (verification and durable write included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"connection"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_webhook_rejected_total",
			Help: "Webhook requests refused by ingress, by connection and reason (the JSON error code).",
		}, []string{"connection", "reason"}),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookgate_webhook_processing_seconds",
			Help:    "Processing: a dispatch, from the dispatcher taking a receipt up to its outcome committed.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"connection"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_webhook_failures_total",
			Help: "Processing failures, by connection and error type (timeout, network, http_4xx, http_5xx, validation, transform, exec, broker, handler, undeliverable).",
		}, []string{"connection", "error_type"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_receipt_transitions_total",
			Help: "Committed receipt status transitions, by the state entered.",
		}, []string{"status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_dispatch_attempts_total",
			Help: "Handler attempts, by handler and outcome (success, failure, fatal).",
		}, []string{"handler", "outcome"}),
	}
	m.byStatus = make(map[hookgate.Status]prometheus.Counter, len(hookgate.Statuses()))
	for _, st := range hookgate.Statuses() {
		m.byStatus[st] = m.transitions.WithLabelValues(string(st))
	}
	m.Registry.MustRegister(m.requests, m.ingress, m.rejected, m.processing, m.failures, m.transitions, m.attempts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queue != nil {
		m.Registry.MustRegister(&queueCollector{stats: queue, now: now})
	}
	return m
}

// unknownConnection labels requests that matched no connection, so a scan of
// random paths cannot grow the label set.
const unknownConnection = "(unknown)"

// ObserveRequest records one answered ingress request. errorType is the JSON
// error code of a refused request, empty on success.
func (m *Metrics) ObserveRequest(connection string, status int, d time.Duration, errorType string) {
	if connection == "" {
		connection = unknownConnection
	}
	m.requests.WithLabelValues(connection, strconv.Itoa(status)).Inc()
	m.ingress.WithLabelValues(connection).Observe(d.Seconds())
	if errorType != "" {
		m.rejected.WithLabelValues(connection, errorType).Inc()
	}
}

// ObserveAttempt records one handler attempt of r; failure is its failure
// type, empty when it succeeded.
func (m *Metrics) ObserveAttempt(r *hookgate.Receipt, a hookgate.Attempt, failure string) {
	m.attempts.WithLabelValues(a.Handler, string(a.Outcome)).Inc()
	if failure != "" {
		m.failures.WithLabelValues(r.Connection, failure).Inc()
	}
}

// ObserveProcessed records one processed receipt: its processing time and,
// when it failed before any handler ran (c.FailureType), that failure.
func (m *Metrics) ObserveProcessed(r *hookgate.Receipt, c hookgate.Completion, took time.Duration) {
	m.processing.WithLabelValues(r.Connection).Observe(took.Seconds())
	if c.FailureType != "" {
		m.failures.WithLabelValues(r.Connection, c.FailureType).Inc()
	}
}

// ObserveTransition counts a committed transition (an events.Bus observer).
func (m *Metrics) ObserveTransition(t hookgate.Transition) {
	if c, ok := m.byStatus[t.Status]; ok {
		c.Inc()
		return
	}
	m.transitions.WithLabelValues(string(t.Status)).Inc()
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// queueCollector reads the queue from the store on each scrape.
type queueCollector struct {
	stats QueueStats
	now   func() time.Time
}

var (
	depthDesc = prometheus.NewDesc("hookgate_queue_depth",
		"Receipts waiting for dispatch (due now or scheduled for a retry).", nil, nil)
	oldestDesc = prometheus.NewDesc("hookgate_queue_oldest_pending_seconds",
		"Age of the oldest receipt waiting for dispatch.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc; ch <- oldestDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, oldest, err := c.stats.QueueStats(ctx, c.now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest.Seconds())
}
