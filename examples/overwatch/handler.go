package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hookgate/hookgate"
)

// Incidents is the in-memory incident table. It is idempotent per receipt:
// a delivery dispatched twice (at-least-once) creates one incident.
type Incidents struct {
	mu        sync.Mutex
	list      []Incident
	byReceipt map[string]int
}

// Add stores inc unless its receipt already made one; it returns the stored
// incident and whether it is new.
func (s *Incidents) Add(inc Incident) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byReceipt == nil {
		s.byReceipt = map[string]int{}
	}
	if i, ok := s.byReceipt[inc.ReceiptID]; ok {
		return s.list[i], false
	}
	inc.ID = fmt.Sprintf("inc-%d", len(s.list)+1)
	s.byReceipt[inc.ReceiptID] = len(s.list)
	s.list = append(s.list, inc)
	return inc, true
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

// AlertHandler is the Go handler "datadog-incident": it validates the alert
// and turns it into an incident. The connection name is the integration id.
type AlertHandler struct {
	Incidents *Incidents
	Logger    *slog.Logger
}

// Send implements hookgate.Sender. An invalid payload is final: the receipt
// goes to dead with the validation errors as its reason. Failures count in
// the handler's circuit breaker (hookgate's, configured in buildConfig):
// while it is open, alerts are kept and wait instead of being dropped.
func (h *AlertHandler) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	integration := r.Connection
	alert, err := ParseAlert(r.Body)
	if err != nil {
		h.Logger.ErrorContext(ctx, "Datadog webhook validation failed", "integration", integration, "receipt", r.ID, "err", err)
		return 0, false, err
	}
	inc := IncidentFromAlert(integration, alert)
	inc.ReceiptID = r.ID
	inc, created := h.Incidents.Add(inc)
	if created {
		h.Logger.InfoContext(ctx, "Created incident from Datadog webhook", "incident", inc.ID, "integration", integration,
			"external_id", inc.ExternalID, "title", inc.Title, "severity", inc.Severity, "status", inc.Status)
	}
	return 0, false, nil
}
