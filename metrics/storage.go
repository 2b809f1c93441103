package metrics

import "github.com/prometheus/client_golang/prometheus"

// WriteFailures counts a store's writes that failed on a storage error; the
// SQLite and PostgreSQL stores implement it.
type WriteFailures interface {
	WriteFailures() int64
}

// ObserveWriteFailures exposes s's count as
// hookgate_storage_write_failures_total, read at scrape time.
func (m *Metrics) ObserveWriteFailures(s WriteFailures) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hookgate_storage_write_failures_total",
		Help: "Writes that failed on a storage error (a full disk, an unreachable database); each was answered 503 or is retried.",
	}, func() float64 { return float64(s.WriteFailures()) }))
}
