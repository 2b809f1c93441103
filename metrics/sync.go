package metrics

import "github.com/prometheus/client_golang/prometheus"

// Sync counts how the deliveries of synchronous routes were answered
// (SPEC §4.2): hookgate_sync_requests_total{connection,outcome}, outcome one
// of replied, fallback, busy (sync work at limits.sync_concurrency: answered
// and dispatched as an async route) and duplicate.
type Sync struct {
	requests *prometheus.CounterVec
}

// NewSync registers the counter on reg.
func NewSync(reg prometheus.Registerer) *Sync {
	s := &Sync{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookgate_sync_requests_total",
		Help: "Deliveries of synchronous routes, by connection and how they were answered (replied, fallback, busy, duplicate).",
	}, []string{"connection", "outcome"})}
	reg.MustRegister(s.requests)
	return s
}

// Observe counts one answer.
func (s *Sync) Observe(connection, outcome string) {
	s.requests.WithLabelValues(connection, outcome).Inc()
}
