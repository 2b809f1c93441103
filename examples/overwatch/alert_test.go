package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

func tags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"env:%d"`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// datadogRules compiles the dd-prod connection's rules exactly as
// buildConfig configures them.
func datadogRules(t *testing.T) (*hookgate.Connection, *rules.Set) {
	t.Helper()
	for _, c := range buildConfig(demoIntegrations()).Connections {
		if c.Name == "dd-prod" {
			var cp rules.Compiler
			set, err := cp.Compile(&c, rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return &c, set
		}
	}
	t.Fatal("no dd-prod connection")
	return nil, nil
}

// evaluate runs the route's rules on body as `hookgate rules test` does.
func evaluate(t *testing.T, set *rules.Set, body string) rules.RouteResult {
	t.Helper()
	env, err := rules.ParseEnvelope("application/json", []byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	res := set.Evaluate(&rules.Input{ConnectionName: "dd-prod", ConnectionType: "overwatch-datadog", Env: env, EventType: "error"}, rules.DryRun)
	if len(res.Routes) != 1 {
		t.Fatalf("routes = %d", len(res.Routes))
	}
	return res.Routes[0]
}

// TestAlertSchema: the route's schema is seed 002's payload rules. Every
// error is reported with its JSON pointer; the seed's own example payloads
// are valid (they carry no alert_status).
func TestAlertSchema(t *testing.T) {
	_, set := datadogRules(t)
	const base = `"alert_name":"High CPU Usage","alert_type":"error","alert_status":"triggered"`
	cases := []struct {
		name string
		body string
		errs []string // JSON pointers of the expected errors, in order; nil = valid
	}{
		// The seed's examples: test_datadog_payload_validation,
		// test_incident_creation, test_datadog_webhook_endpoint.
		{name: "seed: payload validation example", body: `{"id":"123","alert_name":"Test Alert","alert_type":"error","severity":"high"}`},
		{name: "seed: incident creation example", body: `{"id":"alert-123","alert_name":"High CPU Usage","alert_type":"error","severity":"critical","message":"CPU usage above 90%"}`},
		{name: "seed: end-to-end example", body: `{"id":"alert-456","alert_name":"Test Alert","alert_type":"error","alert_status":"triggered","severity":"high"}`},
		{name: "valid, every field", body: `{"id":"alert-123",` + base + `,"severity":"critical","message":"CPU usage above 90%","host":"web-1","tags":["env:prod"],"snapshot":"https://p.datadoghq.com/s.png","link":"https://app.datadoghq.com/monitors/1"}`},
		{name: "valid, no severity", body: `{"id":"alert-1",` + base + `}`},
		{name: "valid, 50 tags", body: `{"id":"a",` + base + `,"tags":` + tags(50) + `}`},
		{name: "valid, http link", body: `{"id":"a",` + base + `,"link":"http://example.com"}`},
		{name: "valid, empty link and nulls", body: `{"id":"a",` + base + `,"link":"","host":null,"tags":null,"message":null}`},
		{name: "null severity", body: `{"id":"a",` + base + `,"severity":null}`, errs: []string{"/severity"}},
		{name: "seed: missing id (the signature example)", body: `{"alert_name":"Test Alert"}`, errs: []string{""}},
		{name: "missing id", body: `{` + base + `}`, errs: []string{""}},
		{name: "bad severity", body: `{"id":"a",` + base + `,"severity":"urgent"}`, errs: []string{"/severity"}},
		{name: "51 tags", body: `{"id":"a",` + base + `,"tags":` + tags(51) + `}`, errs: []string{"/tags"}},
		{name: "bad link", body: `{"id":"a",` + base + `,"link":"ftp://example.com/x"}`, errs: []string{"/link"}},
		{name: "javascript link", body: `{"id":"a",` + base + `,"link":"javascript:alert(1)"}`, errs: []string{"/link"}},
		{name: "empty alert_name", body: `{"id":"a","alert_name":"","alert_type":"error"}`, errs: []string{"/alert_name"}},
		{name: "256-character alert_name", body: `{"id":"a","alert_name":"` + strings.Repeat("é", 256) + `","alert_type":"error"}`, errs: []string{"/alert_name"}},
		{name: "255-character alert_name", body: `{"id":"a","alert_name":"` + strings.Repeat("é", 255) + `","alert_type":"error"}`},
		{name: "long message", body: `{"id":"a",` + base + `,"message":"` + strings.Repeat("x", 5001) + `"}`, errs: []string{"/message"}},
		{name: "id not a string", body: `{"id":7,` + base + `}`, errs: []string{"/id"}},
		{name: "tags not strings", body: `{"id":"a",` + base + `,"tags":[1]}`, errs: []string{"/tags/0"}},
		{name: "several at once", body: `{"id":"a","alert_name":"x","alert_type":"e","severity":"nope","link":"x","tags":` + tags(51) + `}`, errs: []string{"/link", "/severity", "/tags"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rr := evaluate(t, set, c.body)
			if rr.Validate != rules.ValidateSync || !rr.SchemaChecked {
				t.Fatalf("the route's schema did not run synchronously: %+v", rr)
			}
			var got []string
			for _, e := range rr.SchemaErrors {
				got = append(got, e.Path)
			}
			if c.errs == nil {
				if len(got) != 0 {
					t.Fatalf("want valid, got %+v", rr.SchemaErrors)
				}
				return
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, c.errs) {
				t.Fatalf("error paths = %q, want %q (%+v)", got, c.errs, rr.SchemaErrors)
			}
		})
	}
}

// TestIncidentTransform: the route's jq program is seed 002's
// process_webhook mapping, severity included (a missing one is medium).
func TestIncidentTransform(t *testing.T) {
	_, set := datadogRules(t)
	for sev, want := range map[string]string{`"low"`: "low", `"medium"`: "medium", `"high"`: "high", `"critical"`: "critical", `null`: "medium", "": "medium"} {
		body := `{"id":"alert-123","alert_name":"High CPU Usage","alert_type":"error","message":"CPU usage above 90%","host":"web-1","link":"https://app.datadoghq.com/monitors/1"`
		if sev != "" {
			body += `,"severity":` + sev
		}
		body += `}`
		rr := evaluate(t, set, body)
		if rr.TransformError != "" || rr.Body == nil {
			t.Fatalf("severity %s: transform %q, body %s", sev, rr.TransformError, rr.Body)
		}
		inc, err := DecodeIncident(rr.Body)
		if err != nil {
			t.Fatalf("severity %s: %v (%s)", sev, err, rr.Body)
		}
		if inc.Severity != want || inc.Title != "High CPU Usage" || inc.ExternalID != "alert-123" || inc.IntegrationID != "dd-prod" ||
			inc.Description != "CPU usage above 90%" || inc.Status != StatusInvestigating {
			t.Errorf("severity %s: %+v", sev, inc)
		}
		wantMeta := map[string]any{"alert_type": "error", "alert_status": nil, "host": "web-1", "tags": []any{}, "snapshot": nil,
			"link": "https://app.datadoghq.com/monitors/1"}
		if !reflect.DeepEqual(inc.Metadata, wantMeta) {
			t.Errorf("metadata = %#v, want %#v", inc.Metadata, wantMeta)
		}
	}
	// No message: an empty description, as the seed's payload.get("message", "").
	rr := evaluate(t, set, `{"id":"a","alert_name":"n","alert_type":"e","tags":["x"]}`)
	var out map[string]any
	if err := json.Unmarshal(rr.Body, &out); err != nil || out["description"] != "" || !reflect.DeepEqual(out["metadata"].(map[string]any)["tags"], []any{"x"}) {
		t.Fatalf("transformed = %s (%v)", rr.Body, err)
	}
}

func TestDecodeIncident(t *testing.T) {
	for _, b := range []string{`not json`, `{}`, `{"id":"alert-1","alert_name":"raw alert"}`} {
		if _, err := DecodeIncident([]byte(b)); err == nil || !strings.Contains(err.Error(), "not an incident") {
			t.Errorf("%s: err = %v, want not an incident", b, err)
		}
	}
}
