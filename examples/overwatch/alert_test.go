package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func tags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"env:%d"`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestParseAlert(t *testing.T) {
	t.Parallel()
	const base = `"alert_name":"High CPU Usage","alert_type":"error","alert_status":"triggered"`
	cases := []struct {
		name string
		body string
		errs []string // substrings, one per expected error; nil = valid
	}{
		{name: "valid", body: `{"id":"alert-123",` + base + `,"severity":"critical","message":"CPU usage above 90%","tags":["env:prod"],"link":"https://app.datadoghq.com/monitors/1"}`},
		{name: "valid minimal, no severity", body: `{"id":"alert-1",` + base + `}`},
		{name: "valid 50 tags", body: `{"id":"a",` + base + `,"tags":` + tags(50) + `}`},
		{name: "valid http link", body: `{"id":"a",` + base + `,"link":"http://example.com"}`},
		{name: "missing id", body: `{` + base + `}`, errs: []string{"Missing required field: id"}},
		{name: "missing everything", body: `{}`, errs: []string{"field: id", "field: alert_name", "field: alert_type", "field: alert_status"}},
		{name: "bad severity", body: `{"id":"a",` + base + `,"severity":"urgent"}`, errs: []string{"Invalid severity: urgent"}},
		{name: "51 tags", body: `{"id":"a",` + base + `,"tags":` + tags(51) + `}`, errs: []string{"too many tags (max 50)"}},
		{name: "bad link", body: `{"id":"a",` + base + `,"link":"ftp://example.com/x"}`, errs: []string{"link: must be a valid URL"}},
		{name: "empty alert_name", body: `{"id":"a","alert_name":"","alert_type":"error","alert_status":"triggered"}`, errs: []string{"alert_name: length must be 1..255"}},
		{name: "long alert_name", body: `{"id":"a","alert_name":"` + strings.Repeat("é", 256) + `","alert_type":"error","alert_status":"triggered"}`, errs: []string{"got 256"}},
		{name: "long message", body: `{"id":"a",` + base + `,"message":"` + strings.Repeat("x", 5001) + `"}`, errs: []string{"message: at most 5000"}},
		{name: "id not a string", body: `{"id":7,` + base + `}`, errs: []string{"id: must be a string"}},
		{name: "tags not strings", body: `{"id":"a",` + base + `,"tags":[1]}`, errs: []string{"tags: must be a list of strings"}},
		{name: "several at once", body: `{"alert_name":"x","alert_type":"e","alert_status":"s","severity":"nope","link":"x"}`, errs: []string{"field: id", "Invalid severity", "link:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAlert([]byte(c.body))
			if c.errs == nil {
				if err != nil || a == nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if len(ve.Errors) != len(c.errs) {
				t.Fatalf("errors = %q, want %d", ve.Errors, len(c.errs))
			}
			for i, want := range c.errs {
				if !strings.Contains(ve.Errors[i], want) {
					t.Errorf("error %d = %q, want it to contain %q", i, ve.Errors[i], want)
				}
			}
		})
	}
}

func TestIncidentFromAlert(t *testing.T) {
	t.Parallel()
	for sev, want := range map[string]string{"low": "low", "medium": "medium", "high": "high", "critical": "critical", "": "medium"} {
		a := &DatadogAlert{ID: "alert-123", AlertName: "High CPU Usage", AlertType: "error", AlertStatus: "triggered", Severity: sev, Message: "CPU usage above 90%"}
		inc := IncidentFromAlert("dd-prod", a)
		if inc.Severity != want || inc.Title != "High CPU Usage" || inc.ExternalID != "alert-123" ||
			inc.Description != "CPU usage above 90%" || inc.Status != StatusInvestigating || inc.IntegrationID != "dd-prod" {
			t.Errorf("severity %q: %+v", sev, inc)
		}
		if inc.Metadata["alert_type"] != "error" {
			t.Errorf("metadata = %v", inc.Metadata)
		}
	}
}
