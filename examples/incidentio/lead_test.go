package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// incidentJSON builds a seed-001 body: the incident sits under the key
// public_incident.incident_updated_v2.
func incidentJSON(status string, assignments string) string {
	return `{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{` +
		`"incident_id":"01HZINC42","incident_status":"` + status + `","incident_role_assignments":[` + assignments + `]}}`
}

const (
	leadAda      = `{"role":{"role_type":"lead"},"assignee":{"slack_user_id":"U0ADA"}}`
	leadGrace    = `{"role":{"role_type":"lead"},"assignee":{"slack_user_id":"U0GRACE"}}`
	leadUnknown  = `{"role":{"role_type":"lead"},"assignee":{"slack_user_id":"U0NOBODY"}}`
	leadNoOne    = `{"role":{"role_type":"lead"}}`
	reporterAda  = `{"role":{"role_type":"reporter"},"assignee":{"slack_user_id":"U0ADA"}}`
	announcedAda = "ada@example.com is now incident lead for incident id: 01HZINC42"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		body     string
		announce []string
		skipped  string // substring of Outcome.Skipped
		invalid  bool
	}{
		{name: "lead announced", body: incidentJSON("post-mortem", reporterAda+","+leadAda), announce: []string{announcedAda}},
		{name: "closed incident announced", body: incidentJSON("closed", leadAda), announce: []string{announcedAda}},
		{name: "triage skipped", body: incidentJSON("triage", leadAda), skipped: "triage"},
		{name: "live skipped", body: incidentJSON("live", leadAda), skipped: "live"},
		{name: "admin not announced", body: incidentJSON("post-mortem", leadGrace), skipped: AdminRole},
		{name: "unknown slack user", body: incidentJSON("post-mortem", leadUnknown), skipped: "unknown"},
		{name: "lead without assignee", body: incidentJSON("post-mortem", leadNoOne), skipped: "no lead"},
		{name: "only other roles", body: incidentJSON("post-mortem", reporterAda), skipped: "no lead"},
		{name: "no assignments", body: `{"event_type":"x","public_incident.incident_updated_v2":{"incident_id":"1"}}`, skipped: "no lead"},
		{name: "missing event_type", body: `{"public_incident.incident_updated_v2":{}}`, invalid: true},
		{name: "missing incident", body: `{"event_type":"public_incident.incident_updated_v2"}`, invalid: true},
		{name: "null incident", body: `{"event_type":"x","public_incident.incident_updated_v2":null}`, invalid: true},
		{name: "event_type not a string", body: `{"event_type":7,"public_incident.incident_updated_v2":{}}`, invalid: true},
		{name: "incident not an object", body: `{"event_type":"x","public_incident.incident_updated_v2":[1]}`, invalid: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Decide([]byte(c.body), people)
			if c.invalid {
				if !errors.Is(err, ErrInvalidPayload) {
					t.Fatalf("err = %v, want ErrInvalidPayload", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Announcements, c.announce) {
				t.Errorf("announcements = %q, want %q", out.Announcements, c.announce)
			}
			if c.skipped == "" && out.Skipped != "" || c.skipped != "" && !strings.Contains(out.Skipped, c.skipped) {
				t.Errorf("skipped = %q, want it to mention %q", out.Skipped, c.skipped)
			}
		})
	}
}
