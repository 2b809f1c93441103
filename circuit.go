package hookgate

import (
	"context"
	"time"
)

// CircuitState is the state of a handler's circuit breaker (SPEC §4.2).
type CircuitState string

// Circuit states. Closed: deliveries go. Open: the handler failed
// failure_threshold times in a row; its receipts wait, without spending an
// attempt, until RetryAt. Half open: one probe delivery is in flight; its
// success closes the circuit, its failure opens it again.
const (
	CircuitClosed   CircuitState = "closed"
	CircuitOpen     CircuitState = "open"
	CircuitHalfOpen CircuitState = "half_open"
)

// Circuit breaker defaults (SPEC §4.2).
const (
	DefaultFailureThreshold = 10
	DefaultResetTimeout     = time.Hour
)

// WithDefaults returns c with zero fields set to the defaults. c may be nil.
func (c *Circuit) WithDefaults() Circuit {
	var out Circuit
	if c != nil {
		out = *c
	}
	if out.FailureThreshold == 0 {
		out.FailureThreshold = DefaultFailureThreshold
	}
	if out.ResetTimeout == 0 {
		out.ResetTimeout = Duration(DefaultResetTimeout)
	}
	return out
}

// CircuitStatus is where one handler's circuit stands. The zero value (with
// Handler set) is a closed circuit without failures: a handler that never
// failed has no stored row.
type CircuitStatus struct {
	Handler             string
	State               CircuitState
	ConsecutiveFailures int
	// OpenedAt is when the circuit last opened; zero when closed.
	OpenedAt time.Time
	// RetryAt is when an open circuit lets a probe through, or when a
	// half-open circuit's probe is given up (another may go); zero when
	// closed.
	RetryAt time.Time
	// Version counts the changes written, so that a stale copy is never
	// taken for a newer one.
	Version int64
}

// Closed reports whether deliveries go without asking anything.
func (s CircuitStatus) Closed() bool { return s.State == "" || s.State == CircuitClosed }

// Failed is s after a failed delivery at now: the count grows; a closed
// circuit opens when it reaches threshold, and a half-open one (its probe
// failed) opens again, each for reset.
func (s CircuitStatus) Failed(now time.Time, threshold int, reset time.Duration) CircuitStatus {
	s.ConsecutiveFailures++
	switch {
	case s.State == CircuitHalfOpen, s.Closed() && s.ConsecutiveFailures >= threshold:
		s.State, s.OpenedAt, s.RetryAt = CircuitOpen, now, now.Add(reset)
	case s.Closed():
		s.State = CircuitClosed
	}
	s.Version++
	return s
}

// Succeeded is s after a successful delivery: closed, no failures.
func (s CircuitStatus) Succeeded() CircuitStatus {
	return CircuitStatus{Handler: s.Handler, State: CircuitClosed, Version: s.Version + 1}
}

// Probe is s when a delivery asks to go at now as the half-open probe: an
// open circuit whose RetryAt has come (or a half-open one whose probe was
// given up) lets it through and stays half open until now+window. ok is
// false when the circuit is not due for a probe; s is then unchanged.
func (s CircuitStatus) Probe(now time.Time, window time.Duration) (CircuitStatus, bool) {
	if s.Closed() || now.Before(s.RetryAt) {
		return s, false
	}
	s.State, s.RetryAt = CircuitHalfOpen, now.Add(window)
	s.Version++
	return s, true
}

// CircuitStore keeps handlers' circuit breakers where every instance sharing
// the store sees them, and across restarts. The SQLite and PostgreSQL stores
// implement it; a dispatcher whose store does not keeps circuits in memory.
// Each change is read, decided (with the CircuitStatus methods) and written
// in one transaction, so concurrent instances do not lose each other's
// counts, and it answers the status before and after.
type CircuitStore interface {
	// Circuits answers every stored circuit; handlers that never failed
	// have none.
	Circuits(ctx context.Context) ([]CircuitStatus, error)
	// CircuitFailed counts a failed delivery (CircuitStatus.Failed).
	CircuitFailed(ctx context.Context, handler string, now time.Time, threshold int, reset time.Duration) (before, after CircuitStatus, err error)
	// CircuitSucceeded closes the circuit (CircuitStatus.Succeeded); it is
	// also the manual reset.
	CircuitSucceeded(ctx context.Context, handler string) (before, after CircuitStatus, err error)
	// CircuitProbe asks for the half-open probe (CircuitStatus.Probe); of
	// concurrent askers, one gets ok.
	CircuitProbe(ctx context.Context, handler string, now time.Time, window time.Duration) (after CircuitStatus, ok bool, err error)
	// Expedite makes the pending jobs that wait with reason reason, due
	// after now and not leased, due at now; it answers how many. A closing
	// circuit wakes the receipts that wait for it.
	Expedite(ctx context.Context, reason string, now time.Time) (int64, error)
}

// CircuitChange is a circuit's move from one state to another, announced
// after it is written (live stream, metrics, logs).
type CircuitChange struct {
	From CircuitState
	CircuitStatus
	At time.Time
}
