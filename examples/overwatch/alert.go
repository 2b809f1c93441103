package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Severity levels (seed 002: AlertSeverity / IncidentSeverity).
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// DatadogAlert is seed 002's DatadogWebhookPayload.
type DatadogAlert struct {
	ID          string   `json:"id"`
	AlertName   string   `json:"alert_name"`
	AlertType   string   `json:"alert_type"`
	AlertStatus string   `json:"alert_status"`
	Severity    string   `json:"severity,omitempty"`
	Message     string   `json:"message,omitempty"`
	Host        string   `json:"host,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Snapshot    string   `json:"snapshot,omitempty"`
	Link        string   `json:"link,omitempty"`
}

// Limits of DatadogWebhookPayload.
const (
	maxAlertName = 255
	maxMessage   = 5000
	maxTags      = 50
)

// ValidationError lists every problem of a payload, like pydantic's
// ValidationError.errors().
type ValidationError struct {
	Errors []string
}

func (e *ValidationError) Error() string {
	return "payload validation failed: " + strings.Join(e.Errors, "; ")
}

// ParseAlert decodes and validates a Datadog alert body. Every rule of
// DatadogWebhookPayload is checked and all failures are reported together:
// required id, alert_name (1..255 characters), alert_type and alert_status;
// severity one of low, medium, high, critical (optional: the processor maps
// a missing one to medium); message at most 5000 characters; at most 50
// tags; link starting with http:// or https://. The error is a
// *ValidationError.
func ParseAlert(body []byte) (*DatadogAlert, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &ValidationError{Errors: []string{"body is not a JSON object: " + err.Error()}}
	}
	var a DatadogAlert
	var errs []string
	str := func(field string, dst *string, required bool) bool {
		v, ok := raw[field]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if required {
				errs = append(errs, "Missing required field: "+field)
			}
			return false
		}
		if err := json.Unmarshal(v, dst); err != nil {
			errs = append(errs, field+": must be a string")
			return false
		}
		return true
	}
	str("id", &a.ID, true)
	if str("alert_name", &a.AlertName, true) {
		if n := utf8.RuneCountInString(a.AlertName); n < 1 || n > maxAlertName {
			errs = append(errs, fmt.Sprintf("alert_name: length must be 1..%d characters, got %d", maxAlertName, n))
		}
	}
	str("alert_type", &a.AlertType, true)
	str("alert_status", &a.AlertStatus, true)
	if str("severity", &a.Severity, false) {
		switch a.Severity {
		case SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		default:
			errs = append(errs, "Invalid severity: "+a.Severity+" (one of low, medium, high, critical)")
		}
	}
	if str("message", &a.Message, false) {
		if n := utf8.RuneCountInString(a.Message); n > maxMessage {
			errs = append(errs, fmt.Sprintf("message: at most %d characters, got %d", maxMessage, n))
		}
	}
	str("host", &a.Host, false)
	str("snapshot", &a.Snapshot, false)
	if v, ok := raw["tags"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		if err := json.Unmarshal(v, &a.Tags); err != nil {
			errs = append(errs, "tags: must be a list of strings")
		} else if len(a.Tags) > maxTags {
			errs = append(errs, fmt.Sprintf("tags: too many tags (max %d), got %d", maxTags, len(a.Tags)))
		}
	}
	if str("link", &a.Link, false) && a.Link != "" &&
		!strings.HasPrefix(a.Link, "http://") && !strings.HasPrefix(a.Link, "https://") {
		errs = append(errs, "link: must be a valid URL (http:// or https://)")
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return &a, nil
}

// Incident is what an alert becomes (seed 002: Incident).
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

// StatusInvestigating is the status of a new incident.
const StatusInvestigating = "investigating"

// IncidentFromAlert maps an alert to an incident like
// DatadogWebhookProcessor.process_webhook: the severity maps one to one,
// defaulting to medium.
func IncidentFromAlert(integrationID string, a *DatadogAlert) Incident {
	sev := a.Severity
	if sev == "" {
		sev = SeverityMedium
	}
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	return Incident{
		IntegrationID: integrationID,
		ExternalID:    a.ID,
		Title:         a.AlertName,
		Description:   a.Message,
		Severity:      sev,
		Status:        StatusInvestigating,
		Metadata: map[string]any{
			"alert_type":   a.AlertType,
			"alert_status": a.AlertStatus,
			"host":         a.Host,
			"tags":         tags,
			"snapshot":     a.Snapshot,
			"link":         a.Link,
		},
	}
}
