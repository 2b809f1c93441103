package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

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

// AlertHandler is the Go handler "datadog-incident": it keeps the incident
// the route's transform built from a valid alert (the route's schema has
// refused invalid ones at the door). The connection name is the
// integration id.
type AlertHandler struct {
	Incidents *Incidents
	Logger    *slog.Logger
}

// Send implements hookgate.Sender. A body that is not an incident is final:
// the receipt goes to dead with the reason. An incident table that cannot
// take the incident (Incidents.SetUnavailable: the seed's database down) is
// a failure hookgate retries; failures count in the handler's circuit
// breaker (hookgate's, configured in buildConfig): while it is open, alerts
// are kept and wait instead of being dropped.
func (h *AlertHandler) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	integration := r.Connection
	var created bool
	inc, err := DecodeIncident(r.Body)
	if err == nil {
		inc.ReceiptID = r.ID
		inc, created, err = h.Incidents.Add(inc)
	}
	if err != nil {
		h.Logger.ErrorContext(ctx, "Failed to create incident from Datadog webhook", "integration", integration, "receipt", r.ID, "err", err)
		return 0, !errors.Is(err, ErrNotIncident), err
	}
	if created {
		h.Logger.InfoContext(ctx, "Created incident from Datadog webhook", "incident", inc.ID, "integration", integration,
			"external_id", inc.ExternalID, "title", inc.Title, "severity", inc.Severity, "status", inc.Status)
	}
	return 0, false, nil
}
