package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
)

// alertSchema is the Datadog route's JSON Schema (seed 002's
// DatadogWebhookPayload), checked at the door: an invalid alert is answered
// 400 validation_failed with every error's JSON pointer.
//
//go:embed alert.schema.json
var alertSchema []byte

// incidentTransform is the Datadog route's jq program (seed 002's
// DatadogWebhookProcessor.process_webhook): the alert becomes the incident
// the handler gets. The stored alert never changes.
//
//go:embed incident.jq
var incidentTransform string

// Severity levels (seed 002: AlertSeverity / IncidentSeverity).
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// StatusInvestigating is the status of a new incident.
const StatusInvestigating = "investigating"

// Incident is what an alert becomes (seed 002: Incident): the output of
// incidentTransform, plus the ids the handler adds.
type Incident struct {
	ID            string         `json:"id"`
	IntegrationID string         `json:"integration_id"`
	ReceiptID     string         `json:"receipt_id"`
	ExternalID    string         `json:"external_id"`
	Title         string         `json:"title"`
	Description   string         `json:"description"`
	Severity      string         `json:"severity"`
	Status        string         `json:"status"`
	Metadata      map[string]any `json:"metadata"`
}

// ErrNotIncident is a body that is not the route's transform output: the
// route lost its transform, which retrying cannot fix.
var ErrNotIncident = errors.New("not an incident")

// DecodeIncident reads the incident the route's transform built.
func DecodeIncident(body []byte) (Incident, error) {
	var inc Incident
	if err := json.Unmarshal(body, &inc); err != nil {
		return Incident{}, fmt.Errorf("%w: %v", ErrNotIncident, err)
	}
	if inc.ExternalID == "" || inc.IntegrationID == "" || inc.Severity == "" {
		return Incident{}, fmt.Errorf("%w: external_id, integration_id and severity are required (is the route's transform set?)", ErrNotIncident)
	}
	return inc, nil
}
