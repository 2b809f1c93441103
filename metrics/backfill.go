package metrics

import "github.com/prometheus/client_golang/prometheus"

// Backfill counts what backfill runs recovered and the errors they met
// (SPEC §4.5), by connection and provider.
type Backfill struct {
	recovered *prometheus.CounterVec
	errors    *prometheus.CounterVec
}

// NewBackfill registers the backfill counters on m's registry.
func (m *Metrics) NewBackfill() *Backfill {
	b := &Backfill{
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_backfill_recovered_total",
			Help: "Deliveries a backfill recovered from the provider's API (GitHub: redeliveries requested; Stripe: events stored), by connection and provider.",
		}, []string{"connection", "provider"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_backfill_errors_total",
			Help: "Backfill runs that failed and items a run could not recover, by connection and provider.",
		}, []string{"connection", "provider"}),
	}
	m.Registry.MustRegister(b.recovered, b.errors)
	return b
}

// Recovered adds n recovered deliveries.
func (b *Backfill) Recovered(connection, provider string, n int) {
	b.recovered.WithLabelValues(connection, provider).Add(float64(n))
}

// Errors adds n errors.
func (b *Backfill) Errors(connection, provider string, n int) {
	b.errors.WithLabelValues(connection, provider).Add(float64(n))
}
