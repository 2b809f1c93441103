package admin

import (
	"net/http"
	"time"

	"github.com/hookgate/hookgate"
)

// CircuitInfo is a handler's circuit breaker in the API (SPEC §6): its state,
// the failures in a row, when it opened and when it lets a probe through
// (open) or gives up waiting for the probe (half open). Times are null when
// the circuit is closed.
type CircuitInfo struct {
	State               hookgate.CircuitState `json:"state"`
	ConsecutiveFailures int                   `json:"consecutive_failures"`
	OpenedAt            *string               `json:"opened_at"`
	RetryAt             *string               `json:"retry_at"`
}

// NewCircuitInfo renders s.
func NewCircuitInfo(s hookgate.CircuitStatus) CircuitInfo {
	out := CircuitInfo{State: s.State, ConsecutiveFailures: s.ConsecutiveFailures}
	if out.State == "" {
		out.State = hookgate.CircuitClosed
	}
	if out.State != hookgate.CircuitClosed {
		out.OpenedAt, out.RetryAt = timePtr(s.OpenedAt), timePtr(s.RetryAt)
	}
	return out
}

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := ts(t)
	return &s
}

// listHandlers answers every handler with its circuit.
func (a *API) listHandlers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"handlers": a.GW.Handlers()})
}

// resetHandler closes a handler's circuit by hand; the receipts that waited
// for it go at once.
func (a *API) resetHandler(w http.ResponseWriter, r *http.Request) {
	h, err := a.GW.ResetCircuit(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// CircuitJSON renders a handler.circuit_changed event of the live stream.
func CircuitJSON(c hookgate.CircuitChange) map[string]any {
	info := NewCircuitInfo(c.CircuitStatus)
	return map[string]any{
		"handler": c.Handler, "from": c.From, "state": info.State,
		"consecutive_failures": info.ConsecutiveFailures, "opened_at": info.OpenedAt, "retry_at": info.RetryAt,
		"at": ts(c.At),
	}
}
