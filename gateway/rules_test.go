package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// rulesGateway serves one connection internal/svc (auth secret X-Token: tok,
// event type body:type) whose routes are routesYAML (indented under
// "routes:"), forwarding to s as handler "forward" and to t as "other".
func rulesGateway(t *testing.T, s, other *sink, connYAML, routesYAML string) *testGateway {
	t.Helper()
	return newTestGateway(t, fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: %q}
  - {name: other, type: http, url: %q}
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    event_type: body:type
    retry: {max_attempts: 2, initial_interval: 1ms}
%s    routes:
%s`, s.srv.URL+"/hook", other.srv.URL+"/other", connYAML, routesYAML))
}

func (tg *testGateway) send(body string, h http.Header) (int, []byte) {
	tg.t.Helper()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Token", "tok")
	return tg.post("/webhooks/internal/svc", h, []byte(body))
}

// only returns the one receipt of connection svc.
func (tg *testGateway) only() *hookgate.Receipt {
	tg.t.Helper()
	rs := tg.receipts("svc")
	if len(rs) != 1 {
		tg.t.Fatalf("%d receipts, want 1", len(rs))
	}
	return tg.receipt(rs[0].ID)
}

func TestFilterRoutesOrFiltersAtIngest(t *testing.T) {
	t.Parallel()
	s, other := newSink(t, 200), newSink(t, 200)
	tg := rulesGateway(t, s, other, "", `
      - events: ["incident.*"]
        filter: '!(body.data.incident_status in ["triage", "live"])'
        handlers: [forward]
      - events: ["incident.*"]
        filter: 'headers["x-priority"] == "high" && connection.name == "svc"'
        handlers: [other]
`)
	cases := []struct {
		body, priority string
		status         hookgate.Status
		forward, other int
	}{
		{`{"type":"incident.updated","data":{"incident_status":"closed"}}`, "", hookgate.StatusAcknowledged, 1, 0},
		{`{"type":"incident.updated","data":{"incident_status":"triage"}}`, "", hookgate.StatusFiltered, 0, 0},
		// A missing field: the filter is false, not an error.
		{`{"type":"incident.updated","data":{}}`, "", hookgate.StatusFiltered, 0, 0},
		{`{"type":"incident.updated","data":{"incident_status":"live"}}`, "high", hookgate.StatusAcknowledged, 0, 1},
		{`{"type":"user.created","data":{"incident_status":"closed"}}`, "high", hookgate.StatusFiltered, 0, 0},
	}
	for i, c := range cases {
		before, beforeOther := s.count(), other.count()
		h := http.Header{"X-Priority": {c.priority}}
		if st, b := tg.send(c.body, h); st != 204 {
			t.Fatalf("case %d: %d %s", i, st, b)
		}
		rs := tg.receipts("svc")
		r := rs[0]
		// Committed as filtered at ingest already: never claimed.
		if c.status == hookgate.StatusFiltered && r.Status != hookgate.StatusFiltered {
			t.Fatalf("case %d: committed as %s, want filtered", i, r.Status)
		}
		tg.drain()
		if got := tg.receipt(r.ID); got.Status != c.status {
			t.Fatalf("case %d: status %s, want %s", i, got.Status, c.status)
		}
		// A filtered receipt says why: no route, or which filters.
		if want := map[int]string{1: "routes 1, 2 filters are false", 4: `no route for event type "user.created"`}[i]; want != "" && r.Reason != want {
			t.Fatalf("case %d: reason %q, want %q", i, r.Reason, want)
		}
		if s.count()-before != c.forward || other.count()-beforeOther != c.other {
			t.Fatalf("case %d: forward got %d, other got %d", i, s.count()-before, other.count()-beforeOther)
		}
	}
}

func TestFilterErrorKeepsItsReason(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "", `
      - filter: 'body.count > 10'
        handlers: [forward]
`)
	if st, b := tg.send(`{"type":"x","count":"many"}`, nil); st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	r := tg.only()
	if r.Status != hookgate.StatusFiltered || !strings.Contains(r.History[0].Reason, "route 1 filter: ") {
		t.Fatalf("status %s, history %+v", r.Status, r.History)
	}
}

func TestBadRulesAreConfigErrors(t *testing.T) {
	t.Parallel()
	base := `
handlers:
  - {name: log, type: log}
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    routes:
      - handlers: [log]
%s`
	for route, want := range map[string]string{
		"      - filter: 'body.a == '\n        handlers: [log]\n":                          `connection "svc": route 2: filter "body.a == ": line 1, column 11`,
		"      - filter: 'body.a.startsWith(1) &&'\n        handlers: [log]\n":             `connection "svc": route 2: filter`,
		"      - transform: '{a: .b'\n        handlers: [log]\n":                           `connection "svc": route 2: transform: line 1, column 7`,
		"      - schema: {type: objekt}\n        handlers: [log]\n":                        `connection "svc": route 2: schema`,
		"      - schema: missing.json\n        handlers: [log]\n":                          `missing.json`,
		"      - validate: sync\n        handlers: [log]\n":                                `route 2: validate is set but the route has no schema`,
		"      - schema: {type: object}\n        validate: now\n        handlers: [log]\n": `route 2: validate is "now"`,
	} {
		err := checkYAML(t, fmt.Sprintf(base, route))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("route %q: error %v, want %q", route, err, want)
		}
	}
	// The same checks guard the admin API: a bad expression is a 400 that
	// names the connection, the route and the position, and nothing is stored.
	tg := newTestGateway(t, "handlers:\n  - {name: log, type: log}\n")
	conn := map[string]any{
		"type": "internal", "name": "api1", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
		"routes": []map[string]any{{"handlers": []string{"log"}}, {"filter": "body.a ==", "handlers": []string{"log"}}},
	}
	var e struct{ Error, Message string }
	if st := tg.api("POST", "/api/v1/connections", conn, &e); st != 400 || e.Error != hookgate.EInvalid ||
		!strings.Contains(e.Message, `connection "api1": route 2: filter "body.a ==": line 1, column 10`) {
		t.Fatalf("POST = %d %+v", st, e)
	}
	if st := tg.api("GET", "/api/v1/connections/internal/api1", nil, nil); st != 404 {
		t.Fatalf("a refused connection was stored: GET = %d", st)
	}
	// A run-time connection gives its schema inline, never a server file.
	conn["routes"] = []map[string]any{{"schema": "/etc/hostname", "handlers": []string{"log"}}}
	if st := tg.api("POST", "/api/v1/connections", conn, &e); st != 400 || !strings.Contains(e.Message, "only in the config file") {
		t.Fatalf("POST with a schema file = %d %+v", st, e)
	}
	// PATCH is checked alike.
	conn["routes"] = []map[string]any{{"handlers": []string{"log"}}}
	if st := tg.api("POST", "/api/v1/connections", conn, nil); st != 201 {
		t.Fatalf("POST = %d", st)
	}
	patch := map[string]any{"routes": []map[string]any{{"transform": ".a |", "handlers": []string{"log"}}}}
	if st := tg.api("PATCH", "/api/v1/connections/internal/api1", patch, &e); st != 400 || !strings.Contains(e.Message, "route 1: transform") {
		t.Fatalf("PATCH = %d %+v", st, e)
	}
}

const severitySchema = `{"type":"object","required":["id","severity"],"properties":{"id":{"type":"string"},"severity":{"enum":["critical","high","low"]},"tags":{"type":"array","items":{"type":"string"}}}}`

func TestSyncSchemaAnswers400WithEveryErrorAndRecordsRejected(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	dir := t.TempDir()
	path := filepath.Join(dir, "alert.json")
	if err := os.WriteFile(path, []byte(severitySchema), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := rulesGateway(t, s, s, "", fmt.Sprintf(`
      - schema: %s
        validate: sync
        handlers: [forward]
`, path))
	st, b := tg.send(`{"type":"alert","severity":"urgent","tags":["a",2]}`, nil)
	if st != 400 {
		t.Fatalf("invalid = %d %s", st, b)
	}
	var ans struct {
		Error, Message string
		Errors         []struct{ Path, Message string }
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, e := range ans.Errors {
		paths[e.Path] = e.Message != ""
	}
	if ans.Error != "validation_failed" || ans.Message == "" || !paths[""] || !paths["/severity"] || !paths["/tags/1"] || len(ans.Errors) != 3 {
		t.Fatalf("answer %s", b)
	}
	r := tg.only()
	if r.Status != hookgate.StatusRejected || r.Reason != "validation_failed" || !strings.Contains(string(r.Trace), `"/severity"`) {
		t.Fatalf("receipt %s %s trace %s", r.Status, r.Reason, r.Trace)
	}
	// The admin API shows the errors with the receipt.
	var view map[string]any
	if st := tg.api("GET", "/api/v1/receipts/"+r.ID, nil, &view); st != 200 || !strings.Contains(toJSON(view["trace"]), "/tags/1") {
		t.Fatalf("GET receipt = %d %v", st, view["trace"])
	}
	// A valid delivery is accepted and dispatched.
	if st, b := tg.send(`{"type":"alert","id":"a1","severity":"low"}`, nil); st != 204 {
		t.Fatalf("valid = %d %s", st, b)
	}
	tg.drain()
	if s.count() != 1 {
		t.Fatalf("sink got %d", s.count())
	}
}

func TestAsyncSchemaSendsTheReceiptToDead(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "", fmt.Sprintf(`
      - schema: '%s'
        handlers: [forward]
`, severitySchema))
	if st, b := tg.send(`{"type":"alert","id":"a1","severity":"urgent"}`, nil); st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	tg.drain()
	r := tg.only()
	if r.Status != hookgate.StatusDead || !strings.HasPrefix(r.Reason, "validation_failed: route 1: /severity: ") || len(r.Attempts) != 0 || s.count() != 0 {
		t.Fatalf("status %s reason %q attempts %d sink %d", r.Status, r.Reason, len(r.Attempts), s.count())
	}
}

func TestTransformIsWhatHandlersGetAndTheStoredBodyStays(t *testing.T) {
	t.Parallel()
	s, other := newSink(t, 200), newSink(t, 200)
	tg := rulesGateway(t, s, other, "", `
      - transform: '{incident: {title: .alert.title, severity: ({"P1": "critical", "P2": "high"}[.alert.priority] // "low")}, source: $connection, kind: $event_type}'
        handlers: [forward]
      - handlers: [other]
`)
	body := `{"type":"alert.fired","alert":{"title":"disk full","priority":"P1"}}`
	if st, b := tg.send(body, nil); st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	tg.drain()
	r := tg.only()
	if r.Status != hookgate.StatusAcknowledged || s.count() != 1 || other.count() != 1 {
		t.Fatalf("status %s, sinks %d %d", r.Status, s.count(), other.count())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(s.bodies[0]), &got); err != nil {
		t.Fatalf("forwarded %q: %v", s.bodies[0], err)
	}
	want := `{"incident":{"severity":"critical","title":"disk full"},"kind":"alert.fired","source":"svc"}`
	if toJSON(got) != want {
		t.Fatalf("forwarded %s, want %s", s.bodies[0], want)
	}
	if other.bodies[0] != body {
		t.Fatalf("the route without transform got %s", other.bodies[0])
	}
	var view map[string]any
	if st := tg.api("GET", "/api/v1/receipts/"+r.ID, nil, &view); st != 200 || view["body"] != body {
		t.Fatalf("stored body %v", view["body"])
	}
	// A replay after the program changed uses the new program.
	next := *tg.Gateway.live
	next.Connections = append([]hookgate.Connection(nil), next.Connections...)
	next.Connections[0].Routes = append([]hookgate.Route(nil), next.Connections[0].Routes...)
	next.Connections[0].Routes[0].Transform = `{v: 2}`
	if _, err := tg.Reload(t.Context(), &next); err != nil {
		t.Fatal(err)
	}
	if st := tg.api("POST", "/api/v1/receipts/"+r.ID+"/replay", nil, nil); st != 202 {
		t.Fatalf("replay = %d", st)
	}
	tg.drain()
	if s.count() != 2 || s.bodies[1] != `{"v":2}` {
		t.Fatalf("after replay the sink got %q", s.bodies)
	}
}

func TestFailingTransformSendsTheReceiptToDead(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "", `
      - transform: '.alert.title | ascii_downcase | error'
        handlers: [forward]
`)
	if st, b := tg.send(`{"type":"a","alert":{"title":"Disk"}}`, nil); st != 204 {
		t.Fatalf("%d %s", st, b)
	}
	tg.drain()
	r := tg.only()
	if r.Status != hookgate.StatusDead || !strings.HasPrefix(r.Reason, "transform_failed: route 1: ") || !strings.Contains(r.Reason, "disk") ||
		s.count() != 0 || len(r.Attempts) != 0 {
		t.Fatalf("status %s reason %q sink %d", r.Status, r.Reason, s.count())
	}
}

func TestNonceFromBodyDeduplicates(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "    nonce: body:id\n", `
      - handlers: [forward]
`)
	for i, body := range []string{`{"type":"alert","id":"al_1","n":1}`, `{"type":"alert","id":"al_1","n":2}`, `{"type":"alert","id":"al_2"}`} {
		if st, b := tg.send(body, nil); st != 204 {
			t.Fatalf("delivery %d: %d %s", i, st, b)
		}
	}
	statuses := map[hookgate.Status]int{}
	for _, r := range tg.receipts("svc") {
		statuses[r.Status]++
		if r.Status == hookgate.StatusDuplicate && r.IdempotencyKey != "svc:alert:al_1" {
			t.Errorf("duplicate key %s", r.IdempotencyKey)
		}
	}
	if statuses[hookgate.StatusDuplicate] != 1 || statuses[hookgate.StatusReceived] != 2 {
		t.Fatalf("statuses %v", statuses)
	}
	if err := checkYAML(t, `
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-T, signing_secret: t, nonce: body:id, nonce_header: X-Id}
  - {type: internal, name: b, auth: secret, signature_header: X-T, signing_secret: t, nonce: "id"}
`); err == nil || !strings.Contains(err.Error(), `"a": nonce and nonce_header are both set`) || !strings.Contains(err.Error(), `"b": nonce: source "id"`) {
		t.Fatalf("check = %v", err)
	}
}

func TestResponseFields(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "    nonce: body:id\n    response: {status: 200, fields: {alert_id: 'body:id', integration_id: 'connection:name', count: 'body:n', receipt: 'receipt:id', missing: 'body:nope'}}\n", `
      - handlers: [forward]
`)
	for i := range 2 { // the duplicate is answered alike, naming the original receipt
		st, b := tg.send(`{"type":"alert","id":"al_9","n":3}`, nil)
		var ans struct {
			Success bool
			Data    map[string]any
		}
		if err := json.Unmarshal(b, &ans); err != nil || st != 200 || !ans.Success {
			t.Fatalf("delivery %d: %d %s", i, st, b)
		}
		first := tg.receipts("svc")[len(tg.receipts("svc"))-1]
		want := fmt.Sprintf(`{"alert_id":"al_9","count":3,"integration_id":"svc","missing":null,"receipt":%q}`, first.ID)
		if toJSON(ans.Data) != want {
			t.Fatalf("delivery %d: data %s, want %s", i, toJSON(ans.Data), want)
		}
	}
	if err := checkYAML(t, `
connections:
  - {type: internal, name: a, auth: secret, signature_header: X-T, signing_secret: t, response: {status: 200, fields: {x: "secret:value"}}}
  - {type: internal, name: b, auth: secret, signature_header: X-T, signing_secret: t, response: {fields: {x: "body:id"}}}
`); err == nil || !strings.Contains(err.Error(), `response.fields.x: source "secret:value"`) || !strings.Contains(err.Error(), "needs a status with a body") {
		t.Fatalf("check = %v", err)
	}
}

func TestRulesTestAPI(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "    nonce: body:id\n", fmt.Sprintf(`
      - events: ["alert"]
        filter: 'body.severity != "info"'
        schema: '%s'
        transform: '{id, sev: .severity}'
        handlers: [forward]
`, severitySchema))
	try := func(req map[string]any) map[string]any {
		t.Helper()
		var out map[string]any
		if st := tg.api("POST", "/api/v1/connections/internal/svc/test", req, &out); st != 200 {
			t.Fatalf("test = %d %v", st, out)
		}
		return out
	}
	out := try(map[string]any{"headers": map[string]string{"X-Token": "tok"}, "body": `{"type":"alert","id":"a1","severity":"high"}`})
	rc := out["receipt"].(map[string]any)
	route := out["routes"].([]any)[0].(map[string]any)
	if out["status"] != 204.0 || out["verification"].(map[string]any)["verified"] != true || rc["status"] != "received" ||
		rc["event_type"] != "alert" || rc["nonce"] != "a1" || rc["idempotency_key"] != "svc:alert:a1" ||
		route["takes"] != true || toJSON(route["filter"]) != `{"pass":true}` || toJSON(route["transformed_body"]) != `{"id":"a1","sev":"high"}` {
		t.Fatalf("trial %s", toJSON(out))
	}
	// Filtered, then failing the async schema, then a bad token.
	if out := try(map[string]any{"headers": map[string]string{"X-Token": "tok"}, "body": `{"type":"alert","id":"a2","severity":"info"}`}); out["receipt"].(map[string]any)["status"] != "filtered" {
		t.Fatalf("trial %s", toJSON(out))
	}
	out = try(map[string]any{"headers": map[string]string{"X-Token": "tok"}, "body": `{"type":"alert","id":"a3","severity":"urgent"}`})
	if !strings.HasPrefix(out["dead_reason"].(string), "validation_failed: route 1: /severity") {
		t.Fatalf("trial %s", toJSON(out))
	}
	out = try(map[string]any{"headers": map[string]string{"X-Token": "wrong"}, "body": `{"type":"alert"}`})
	if out["status"] != 401.0 || out["verification"].(map[string]any)["verified"] != false || out["receipt"] != nil {
		t.Fatalf("trial %s", toJSON(out))
	}
	assertNoSecret(t, []byte(toJSON(out)), "tok")
	// Nothing was stored or dispatched.
	if n := len(tg.receipts("svc")); n != 0 || s.count() != 0 {
		t.Fatalf("a trial stored %d receipts, dispatched %d", n, s.count())
	}
	var e struct{ Error, Message string }
	if st := tg.api("POST", "/api/v1/connections/internal/nope/test", map[string]any{"body": "{}"}, &e); st != 404 || e.Error != hookgate.ENotFound {
		t.Fatalf("unknown connection = %d %+v", st, e)
	}
	if st := tg.api("POST", "/api/v1/connections/internal/svc/test", map[string]any{"headers": map[string]string{}}, &e); st != 400 || e.Error != hookgate.EInvalid {
		t.Fatalf("no body = %d %+v", st, e)
	}
}

// TestRulesTestAgreesWithIngest: the dry run and a real delivery decide
// alike, because they share one evaluation.
func TestRulesTestAgreesWithIngest(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	yaml := fmt.Sprintf(`
      - filter: 'body.n > 1'
        schema: '%s'
        validate: sync
        handlers: [forward]
`, severitySchema)
	tg := rulesGateway(t, s, s, "", yaml)
	for i, body := range []string{
		`{"type":"a","n":0}`,
		`{"type":"a","n":2,"id":"x","severity":"low"}`,
		`{"type":"a","n":2,"severity":"nope"}`,
	} {
		cfg, _, err := config.Parse([]byte(fmt.Sprintf(`
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: %q}
  - {name: other, type: http, url: %q}
connections:
  - {type: internal, name: svc, auth: secret, signature_header: X-Token, signing_secret: tok, event_type: body:type,
     routes: [{filter: 'body.n > 1', schema: '%s', validate: sync, handlers: [forward]}]}
`, s.srv.URL, s.srv.URL, severitySchema)))
		if err != nil {
			t.Fatal(err)
		}
		trial, err := TryConfig(cfg, "internal", "svc", http.Header{"X-Token": {"tok"}, "Content-Type": {"application/json"}}, []byte(body), nil, tg.clock.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := tg.send(body, nil)
		if trial.Status != st {
			t.Fatalf("body %d: trial answers %d, ingest %d", i, trial.Status, st)
		}
		r := tg.receipts("svc")[0]
		if trial.Receipt != nil && trial.Receipt.Status != r.Status || trial.Receipt == nil && r.Status != hookgate.StatusRejected {
			t.Fatalf("body %d: trial %+v, ingest %s", i, trial.Receipt, r.Status)
		}
	}
}

// TestRulesReadFormBodies: on a connection that takes forms, the rules read
// the form's fields, and a transform's JSON goes out as JSON.
func TestRulesReadFormBodies(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := rulesGateway(t, s, s, "    accept_form: true\n", `
      - filter: 'body.text.startsWith("prod")'
        transform: '{cmd: .command, args: (.text | split(" "))}'
        handlers: [forward]
`)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, body := range []string{"command=%2Fdeploy&text=prod+eu", "command=%2Fdeploy&text=staging"} {
		if st, b := tg.send(body, form.Clone()); st != 204 {
			t.Fatalf("%s: %d %s", body, st, b)
		}
	}
	tg.drain()
	if s.count() != 1 || s.bodies[0] != `{"args":["prod","eu"],"cmd":"/deploy"}` || s.got[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("sink got %d: %q %v", s.count(), s.bodies, s.got[0].Header)
	}
}

// TestRunTimeConnectionWithRules: a connection registered through the admin
// API carries its rules through the database (inline schema as an object).
func TestRunTimeConnectionWithRules(t *testing.T) {
	t.Parallel()
	s := newSink(t, 200)
	tg := newTestGateway(t, fmt.Sprintf("unsigned_forwarding: true\nhandlers:\n  - {name: forward, type: http, url: %q}\n", s.srv.URL))
	var schema map[string]any
	if err := json.Unmarshal([]byte(severitySchema), &schema); err != nil {
		t.Fatal(err)
	}
	conn := map[string]any{
		"type": "internal", "name": "rt", "auth": "secret", "signature_header": "X-Token", "signing_secret": "tok",
		"event_type": "body:type", "nonce": "body:id",
		"routes": []map[string]any{{"filter": `body.type == "alert"`, "schema": schema, "validate": "sync", "transform": "{id}", "handlers": []string{"forward"}}},
	}
	var view map[string]any
	if st := tg.api("POST", "/api/v1/connections", conn, &view); st != 201 {
		t.Fatalf("POST = %d %v", st, view)
	}
	if got := toJSON(view["routes"].([]any)[0].(map[string]any)["schema"]); !strings.Contains(got, `"required":["id","severity"]`) {
		t.Fatalf("schema shown as %s", got)
	}
	h := http.Header{"X-Token": {"tok"}}
	if st, b := tg.post("/webhooks/internal/rt", h, []byte(`{"type":"alert","id":"a1","severity":"nope"}`)); st != 400 || !strings.Contains(string(b), `"/severity"`) {
		t.Fatalf("invalid = %d %s", st, b)
	}
	if st, b := tg.post("/webhooks/internal/rt", h, []byte(`{"type":"alert","id":"a2","severity":"low"}`)); st != 204 {
		t.Fatalf("valid = %d %s", st, b)
	}
	tg.drain()
	if s.count() != 1 || s.bodies[0] != `{"id":"a2"}` {
		t.Fatalf("sink got %q", s.bodies)
	}
}
