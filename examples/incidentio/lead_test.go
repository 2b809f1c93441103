package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/rules"
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
		{name: "admin not announced", body: incidentJSON("post-mortem", leadGrace), skipped: AdminRole},
		{name: "unknown slack user", body: incidentJSON("post-mortem", leadUnknown), skipped: "unknown"},
		{name: "lead without assignee", body: incidentJSON("post-mortem", leadNoOne), skipped: "no lead"},
		{name: "only other roles", body: incidentJSON("post-mortem", reporterAda), skipped: "no lead"},
		{name: "no assignments", body: `{"event_type":"x","public_incident.incident_updated_v2":{"incident_id":"1"}}`, skipped: "no lead"},
		{name: "not JSON", body: `{"event_type":`, invalid: true},
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

// leadRules compiles the lead connection's route as configYAML sets it.
func leadRules(t *testing.T) *rules.Set {
	t.Helper()
	t.Setenv("INCIDENT_WEBHOOK_SECRET", DefaultSecret)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cp rules.Compiler
	set, err := cp.Compile(&cfg.Connections[0], rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestLeadRoute: seed 001's skip and required fields are the route's filter
// and schema. Incidents in triage or live are not taken (stored as
// filtered); every other status is, with or without a status; a body
// without the seed's required fields is taken and fails the schema (dead).
func TestLeadRoute(t *testing.T) {
	set := leadRules(t)
	cases := []struct {
		name       string
		body       string
		takes      bool
		schemaErrs []string // JSON pointers
	}{
		{name: "post-mortem", body: incidentJSON("post-mortem", leadAda), takes: true},
		{name: "closed", body: incidentJSON("closed", leadAda), takes: true},
		{name: "triage", body: incidentJSON("triage", leadAda)},
		{name: "live", body: incidentJSON("live", leadAda)},
		{name: "no status", body: `{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{"incident_id":"1"}}`, takes: true},
		{name: "missing incident", body: `{"event_type":"public_incident.incident_updated_v2"}`, takes: true, schemaErrs: []string{""}},
		{name: "null incident", body: `{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":null}`, takes: true, schemaErrs: []string{"/public_incident.incident_updated_v2"}},
		{name: "missing event_type", body: `{"public_incident.incident_updated_v2":{"incident_status":"closed"}}`, takes: true, schemaErrs: []string{""}},
		{name: "status not a string", body: `{"event_type":"e","public_incident.incident_updated_v2":{"incident_status":7}}`, takes: true, schemaErrs: []string{"/public_incident.incident_updated_v2/incident_status"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := rules.ParseEnvelope("application/json", []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			res := set.Evaluate(&rules.Input{ConnectionName: "lead", ConnectionType: "incidentio", Env: env, EventType: EventUpdated}, rules.DryRun)
			rr := res.Routes[0]
			if rr.Filter == nil || rr.Filter.Error != "" {
				t.Fatalf("filter = %+v, want it evaluated without error", rr.Filter)
			}
			if rr.Takes != c.takes || res.Taken != c.takes {
				t.Fatalf("takes = %v, want %v", rr.Takes, c.takes)
			}
			var paths []string
			for _, e := range rr.SchemaErrors {
				paths = append(paths, e.Path)
			}
			if c.takes && !reflect.DeepEqual(paths, c.schemaErrs) {
				t.Fatalf("schema errors = %+v, want paths %q", rr.SchemaErrors, c.schemaErrs)
			}
			if reason := res.DeadReason(); (reason != "") != (len(c.schemaErrs) > 0) {
				t.Fatalf("dead reason = %q", reason)
			}
		})
	}
}
