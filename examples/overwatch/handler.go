package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookgate/hookgate"
)

// Incidents is the in-memory incident table. It is idempotent per receipt:
// a delivery dispatched twice (at-least-once) creates one incident.
type Incidents struct {
	mu          sync.Mutex
	list        []Incident
	byReceipt   map[string]int
	unavailable error
}

// SetUnavailable makes Add fail with err until it is called with nil: the
// seed's database being down, the processing failure its circuit breaker
// counts.
func (s *Incidents) SetUnavailable(err error) {
	s.mu.Lock()
	s.unavailable = err
	s.mu.Unlock()
}

// Add stores inc unless its receipt already made one; it returns the stored
// incident and whether it is new.
func (s *Incidents) Add(inc Incident) (Incident, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unavailable != nil {
		return Incident{}, false, fmt.Errorf("store incident: %w", s.unavailable)
	}
	if s.byReceipt == nil {
		s.byReceipt = map[string]int{}
	}
	if i, ok := s.byReceipt[inc.ReceiptID]; ok {
		return s.list[i], false, nil
	}
	inc.ID = fmt.Sprintf("inc-%d", len(s.list)+1)
	s.byReceipt[inc.ReceiptID] = len(s.list)
	s.list = append(s.list, inc)
	return inc, true, nil
}

// ByExternalID returns the incidents made from the alert with that id.
func (s *Incidents) ByExternalID(id string) []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Incident
	for _, inc := range s.list {
		if inc.ExternalID == id {
			out = append(out, inc)
		}
	}
	return out
}

// Breaker is seed 002's WebhookCircuitBreaker, per integration: after
// Threshold consecutive failures the integration is in error and its alerts
// wait (the handler asks hookgate to retry them later, so they stay stored)
// until ResetTimeout has passed; then one alert is let through, and a
// success closes the circuit again.
//
// hookgate's own per-handler circuit breaker (SPEC §4.2) is not available in
// this version, so the example keeps the count itself.
type Breaker struct {
	Threshold    int
	ResetTimeout time.Duration
	Now          func() time.Time

	mu    sync.Mutex
	state map[string]*circuit
}

type circuit struct {
	failures int
	openedAt time.Time
	open     bool
}

// ErrCircuitOpen is returned while an integration's circuit is open.
var ErrCircuitOpen = errors.New("circuit open")

// Allow reports whether the integration may be processed now.
func (b *Breaker) Allow(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.get(id)
	return !c.open || b.Now().Sub(c.openedAt) >= b.ResetTimeout
}

// Failure records a failure; it reports whether the circuit opened now.
func (b *Breaker) Failure(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.get(id)
	c.failures++
	if c.failures >= b.Threshold {
		wasOpen := c.open
		c.open, c.openedAt = true, b.Now()
		return !wasOpen
	}
	return false
}

// Success closes the circuit and resets the count; it reports whether the
// circuit was open.
func (b *Breaker) Success(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.get(id)
	wasOpen := c.open
	c.failures, c.open = 0, false
	return wasOpen
}

// Open reports whether the integration's circuit is open.
func (b *Breaker) Open(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.get(id).open
}

func (b *Breaker) get(id string) *circuit {
	if b.state == nil {
		b.state = map[string]*circuit{}
	}
	c, ok := b.state[id]
	if !ok {
		c = &circuit{}
		b.state[id] = c
	}
	return c
}

// AlertHandler is the Go handler "datadog-incident": it keeps the incident
// the route's transform built from a valid alert (the route's schema has
// refused invalid ones at the door). The connection name is the
// integration id.
type AlertHandler struct {
	Incidents *Incidents
	Breaker   *Breaker
	Logger    *slog.Logger
}

// Send implements hookgate.Sender. A body that is not an incident is final:
// the receipt goes to dead with the reason. An incident table that cannot
// take the incident (Incidents.SetUnavailable: the seed's database down) is
// a failure hookgate retries. While the integration's circuit is open the
// alert is retried later, never dropped.
func (h *AlertHandler) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	integration := r.Connection
	var created bool
	if !h.Breaker.Allow(integration) {
		return 0, true, fmt.Errorf("integration %s: %w", integration, ErrCircuitOpen)
	}
	inc, err := DecodeIncident(r.Body)
	if err == nil {
		inc.ReceiptID = r.ID
		inc, created, err = h.Incidents.Add(inc)
	}
	if err != nil {
		h.Logger.ErrorContext(ctx, "Failed to create incident from Datadog webhook", "integration", integration, "receipt", r.ID, "err", err)
		if h.Breaker.Failure(integration) {
			h.Logger.ErrorContext(ctx, "Circuit breaker opened for integration", "integration", integration)
		}
		return 0, !errors.Is(err, ErrNotIncident), err
	}
	if h.Breaker.Success(integration) {
		h.Logger.InfoContext(ctx, "Circuit breaker closed for integration", "integration", integration)
	}
	if created {
		h.Logger.InfoContext(ctx, "Created incident from Datadog webhook", "incident", inc.ID, "integration", integration,
			"external_id", inc.ExternalID, "title", inc.Title, "severity", inc.Severity, "status", inc.Status)
	}
	return 0, false, nil
}
