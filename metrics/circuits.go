package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate"
)

// CircuitStates answers the state of every handler's circuit breaker, by
// handler name; the gateway reads it from the dispatcher.
type CircuitStates func() map[string]hookgate.CircuitState

var circuitDesc = prometheus.NewDesc("hookgate_handler_circuit_state",
	"State of the handler's circuit breaker: 0 closed, 1 open, 2 half open.", []string{"handler"}, nil)

// CircuitValue is the value of hookgate_handler_circuit_state for s.
func CircuitValue(s hookgate.CircuitState) float64 {
	switch s {
	case hookgate.CircuitOpen:
		return 1
	case hookgate.CircuitHalfOpen:
		return 2
	}
	return 0
}

// ObserveCircuits serves hookgate_handler_circuit_state from states, read at
// each scrape: one series per handler, configured ones included.
func (m *Metrics) ObserveCircuits(states CircuitStates) {
	m.Registry.MustRegister(circuitCollector(states))
}

type circuitCollector CircuitStates

func (c circuitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- circuitDesc }

func (c circuitCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c() {
		ch <- prometheus.MustNewConstMetric(circuitDesc, prometheus.GaugeValue, CircuitValue(s), name)
	}
}
