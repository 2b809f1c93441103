package rules_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// BenchmarkParseEnvelope is the envelope check of every accepted delivery:
// a 2 KiB GitHub-style JSON object, and a form-encoded body (Slack, Twilio).
func BenchmarkParseEnvelope(b *testing.B) {
	jsonBody := []byte(`{"action":"opened","number":7,"pull_request":{"id":42,"title":"Fix","user":{"login":"octo"}},"pad":"` +
		strings.Repeat("x", 2048-110) + `"}`)
	form := []byte(url.Values{"payload": {string(jsonBody[:512])}, "token": {"t"}, "team_id": {"T1"}}.Encode())
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"json-2KiB", "application/json", jsonBody},
		{"form", "application/x-www-form-urlencoded", form},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rules.ParseEnvelope(c.ct, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// incidentBody is a typical incident.io-style delivery of about 2 KiB.
var incidentBody = []byte(`{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{},` +
	`"data":{"id":"01HXYZ","incident_status":"closed","severity":{"name":"Major","rank":2},"name":"Checkout errors",` +
	`"summary":"` + strings.Repeat("s", 1500) + `","custom_fields":[{"name":"Team","value":"payments"},{"name":"Region","value":"eu"}],` +
	`"reference":"INC-123","permalink":"https://app.incident.io/incidents/123"},"id":"al_1","severity":"high","title":"disk"}`)

// BenchmarkRules is the cost per delivery of each kind of rule, the body's
// decode included (a delivery decodes its body once for all its rules):
// a typical filter at ingest, a schema validation, a transform at dispatch,
// and a connection without rules (event types only).
func BenchmarkRules(b *testing.B) {
	schema := &hookgate.RouteSchema{Inline: []byte(`{"type":"object","required":["id","severity","title"],` +
		`"properties":{"id":{"type":"string"},"severity":{"enum":["critical","high","low"]},"title":{"type":"string","maxLength":200},` +
		`"data":{"type":"object","required":["incident_status"]}}}`)}
	for _, c := range []struct {
		name  string
		route hookgate.Route
		stage rules.Stage
	}{
		{"none", hookgate.Route{Events: []string{"public_incident.*"}, Handlers: []string{"h"}}, rules.AtIngest},
		{"filter", hookgate.Route{Filter: `!(body.data.incident_status in ["triage", "live"])`, Handlers: []string{"h"}}, rules.AtIngest},
		{"schema", hookgate.Route{Schema: schema, Validate: "sync", Handlers: []string{"h"}}, rules.AtIngest},
		{"transform", hookgate.Route{Transform: `{incident: {title: .title, severity: ({"high": "P2", "critical": "P1"}[.severity] // "P3"), ref: .data.reference}}`, Handlers: []string{"h"}}, rules.AtDispatch},
	} {
		b.Run(c.name, func(b *testing.B) {
			var cp rules.Compiler
			set, err := cp.Compile(&hookgate.Connection{Name: "c", Type: "incidentio", Routes: []hookgate.Route{c.route}}, rules.Options{MaxOutput: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			env, err := rules.ParseEnvelope("application/json", incidentBody)
			if err != nil {
				b.Fatal(err)
			}
			h := http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"msg_1"}}
			b.SetBytes(int64(len(incidentBody)))
			b.ReportAllocs()
			for b.Loop() {
				if !set.Active() {
					if !rules.AnyMatch([]hookgate.Route{c.route}, "public_incident.incident_updated_v2") {
						b.Fatal("no route")
					}
					continue
				}
				in := &rules.Input{ConnectionName: "c", ConnectionType: "incidentio", Header: h, Env: env, EventType: "public_incident.incident_updated_v2"}
				var res *rules.Result
				if set.Active() {
					res = set.Evaluate(in, c.stage)
				} else if !rules.AnyMatch([]hookgate.Route{c.route}, in.EventType) {
					b.Fatal("no route")
				}
				if res != nil && (!res.Taken || res.DeadReason() != "" || res.Invalid() != nil) {
					b.Fatalf("result %+v", res.Routes[0])
				}
			}
		})
	}
}
