package rules

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
)

func compileRoutes(t *testing.T, opt Options, routes ...hookgate.Route) *Set {
	t.Helper()
	var cp Compiler
	s, err := cp.Compile(&hookgate.Connection{Type: "generic", Name: "c", Routes: routes}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func input(t *testing.T, body string) *Input {
	t.Helper()
	env, err := ParseEnvelope("application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return &Input{ConnectionName: "c", ConnectionType: "generic", Header: http.Header{"X-Source": {"pager"}}, Env: env, EventType: "incident.updated"}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter, body string
		pass         bool
		errPart      string
	}{
		{`!(body.data.incident_status in ["triage", "live"])`, `{"data":{"incident_status":"closed"}}`, true, ""},
		{`!(body.data.incident_status in ["triage", "live"])`, `{"data":{"incident_status":"live"}}`, false, ""},
		// A missing field makes the whole expression false, negated or not.
		{`!(body.data.incident_status in ["triage", "live"])`, `{"data":{}}`, false, ""},
		{`has(body.data.x) && body.data.x == 1`, `{"data":{}}`, false, ""},
		{`body.count == 3 && body.count > 2.5 && body.price < 10`, `{"count":3,"price":9.99}`, true, ""},
		{`body.id == 12345678901234`, `{"id":12345678901234}`, true, ""},
		{`headers["x-source"] == "pager" && event_type.startsWith("incident.") && connection.name == "c"`, `{}`, true, ""},
		{`body.items.exists(i, i.sku == "b")`, `{"items":[{"sku":"a"},{"sku":"b"}]}`, true, ""},
		// A type mismatch is false, and says why.
		{`body.count > "x"`, `{"count":3}`, false, "no such overload"},
		{`body.flag`, `{"flag":"yes"}`, false, "not a boolean"},
	}
	for _, tt := range tests {
		s := compileRoutes(t, Options{}, hookgate.Route{Filter: tt.filter, Handlers: []string{"h"}})
		res := s.Evaluate(input(t, tt.body), AtIngest)
		rr := res.Routes[0]
		if rr.Filter == nil || rr.Filter.Pass != tt.pass || res.Taken != tt.pass {
			t.Errorf("%s on %s: got %+v, want pass=%v", tt.filter, tt.body, rr.Filter, tt.pass)
			continue
		}
		if tt.errPart == "" && rr.Filter.Error != "" || !strings.Contains(rr.Filter.Error, tt.errPart) {
			t.Errorf("%s on %s: error %q, want it to contain %q", tt.filter, tt.body, rr.Filter.Error, tt.errPart)
		}
		if tt.errPart != "" && !strings.Contains(res.FilterNote(), "route 1 filter") {
			t.Errorf("FilterNote = %q", res.FilterNote())
		}
	}
}

func TestFilterCostLimit(t *testing.T) {
	t.Parallel()
	items := strings.Repeat(`{"a":1},`, 2000)
	body := `{"items":[` + items[:len(items)-1] + `]}`
	s := compileRoutes(t, Options{}, hookgate.Route{
		Filter:   `body.items.all(i, body.items.all(j, body.items.exists(k, k.a == 2) || true))`,
		Handlers: []string{"h"},
	})
	rr := s.Evaluate(input(t, body), AtIngest).Routes[0]
	if rr.Filter.Pass || !strings.Contains(rr.Filter.Error, "cost limit") && !strings.Contains(rr.Filter.Error, "exceeded") {
		t.Fatalf("a filter past the cost limit: %+v", rr.Filter)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		route hookgate.Route
		want  string
	}{
		{hookgate.Route{Filter: `body.a ==`, Handlers: []string{"h"}}, "route 1: filter \"body.a ==\": line 1, column 10"},
		{hookgate.Route{Filter: "body.a == 1 &&\n  nope(body)", Handlers: []string{"h"}}, "line 2, column 7: undeclared reference to 'nope'"},
		{hookgate.Route{Filter: `body.a + 1`, Handlers: []string{"h"}}, "not a boolean"},
		{hookgate.Route{Filter: `"text"`, Handlers: []string{"h"}}, "is a string, not a boolean"},
		{hookgate.Route{Transform: `{a: .b`, Handlers: []string{"h"}}, "route 1: transform: line 1, column 7"},
		{hookgate.Route{Transform: `$undefined`, Handlers: []string{"h"}}, "variable not defined"},
		{hookgate.Route{Validate: "sync", Handlers: []string{"h"}}, "no schema"},
		{hookgate.Route{Validate: "later", Schema: &hookgate.RouteSchema{Inline: json.RawMessage(`{}`)}, Handlers: []string{"h"}}, "sync or async"},
		{hookgate.Route{Schema: &hookgate.RouteSchema{Inline: json.RawMessage(`{"type":"nope"}`)}, Handlers: []string{"h"}}, "route 1: schema"},
		{hookgate.Route{Schema: &hookgate.RouteSchema{Inline: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)}, Handlers: []string{"h"}}, "cannot load"},
		{hookgate.Route{Schema: &hookgate.RouteSchema{Path: "missing.json"}, Handlers: []string{"h"}}, "missing.json"},
	}
	for _, tt := range tests {
		var cp Compiler
		c := &hookgate.Connection{Type: "generic", Name: "c", Routes: []hookgate.Route{tt.route}}
		_, err := cp.Compile(c, Options{Dir: dir, Files: true})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want it to contain %q", tt.route, err, tt.want)
		}
	}
	// A connection registered through the API may not name a file.
	var cp Compiler
	c := &hookgate.Connection{Routes: []hookgate.Route{{Schema: &hookgate.RouteSchema{Path: "/etc/hostname"}, Handlers: []string{"h"}}}}
	if _, err := cp.Compile(c, Options{}); err == nil || !strings.Contains(err.Error(), "only in the config file") {
		t.Errorf("a schema file from the API: %v", err)
	}
}

const alertSchema = `{
  "type": "object",
  "required": ["id", "severity", "title"],
  "properties": {
    "id": {"type": "string"},
    "severity": {"enum": ["critical", "high", "low"]},
    "title": {"type": "string", "maxLength": 10},
    "tags": {"type": "array", "items": {"type": "string"}}
  }
}`

func TestSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alert.json"), []byte(alertSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, sch := range map[string]*hookgate.RouteSchema{
		"file":   {Path: "alert.json"},
		"inline": {Inline: json.RawMessage(alertSchema)},
	} {
		s := compileRoutes(t, Options{Dir: dir, Files: true},
			hookgate.Route{Schema: sch, Validate: "sync", Handlers: []string{"h"}})
		res := s.Evaluate(input(t, `{"severity":"urgent","title":"far too long a title","tags":["a",2]}`), AtIngest)
		inv := res.Invalid()
		if inv == nil {
			t.Fatalf("%s: no validation failure", name)
		}
		got := map[string]bool{}
		for _, e := range inv.Errors {
			got[e.Path] = true
			if e.Message == "" {
				t.Errorf("%s: empty message at %s", name, e.Path)
			}
		}
		for _, p := range []string{"", "/severity", "/title", "/tags/1"} {
			if !got[p] {
				t.Errorf("%s: no error at %q: %+v", name, p, inv.Errors)
			}
		}
		if ok := s.Evaluate(input(t, `{"id":"a1","severity":"low","title":"disk"}`), AtIngest); ok.Invalid() != nil {
			t.Errorf("%s: a valid body fails: %+v", name, ok.Invalid())
		}
		// A sync schema is checked at ingest only.
		if d := s.Evaluate(input(t, `{}`), AtDispatch); d.DeadReason() != "" || d.Routes[0].SchemaChecked {
			t.Errorf("%s: a sync schema ran at dispatch: %+v", name, d.Routes[0])
		}
	}
}

func TestSchemaErrorsBounded(t *testing.T) {
	t.Parallel()
	s := compileRoutes(t, Options{}, hookgate.Route{
		Schema:   &hookgate.RouteSchema{Inline: json.RawMessage(`{"type":"object","additionalProperties":{"type":"string"}}`)},
		Handlers: []string{"h"},
	})
	var b strings.Builder
	b.WriteString("{")
	for i := range 500 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `_` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString("}")
	res := s.Evaluate(input(t, b.String()), AtDispatch)
	if n := len(res.Routes[0].SchemaErrors); n != MaxSchemaErrors {
		t.Fatalf("%d errors, want the cap %d", n, MaxSchemaErrors)
	}
	if r := res.DeadReason(); !strings.HasPrefix(r, "validation_failed: route 1: ") || len(r) > 1300 {
		t.Fatalf("dead reason %d bytes: %.200s", len(r), r)
	}
}

func TestTransform(t *testing.T) {
	t.Parallel()
	s := compileRoutes(t, Options{MaxOutput: 200},
		hookgate.Route{Transform: `{title: .alert.title, severity: ({"P1":"critical"}[.alert.priority] // "low"), id: .id, event: $event_type, from: $connection}`, Handlers: []string{"h"}},
		hookgate.Route{Handlers: []string{"plain"}},
	)
	res := s.Evaluate(input(t, `{"id":12345678901234567890,"alert":{"title":"disk","priority":"P1"}}`), AtDispatch)
	var got map[string]any
	if err := json.Unmarshal(res.Routes[0].Body, &got); err != nil {
		t.Fatalf("output %s: %v", res.Routes[0].Body, err)
	}
	if !strings.Contains(string(res.Routes[0].Body), `"id":12345678901234567890`) {
		t.Errorf("a large number lost precision: %s", res.Routes[0].Body)
	}
	if got["severity"] != "critical" || got["event"] != "incident.updated" || got["from"] != "c" {
		t.Errorf("output %s", res.Routes[0].Body)
	}
	if res.Routes[1].Body != nil {
		t.Errorf("a route without transform got a body")
	}
	// No transform runs at ingest.
	if s.Evaluate(input(t, `{}`), AtIngest).Routes[0].Body != nil {
		t.Errorf("transform ran at ingest")
	}
}

func TestTransformFailures(t *testing.T) {
	t.Parallel()
	for prog, want := range map[string]string{
		`error("nope")`:                "nope",
		`empty`:                        "no output",
		`.a, .b`:                       "more than one output",
		`[range(1e9)] | length`:        "longer than",
		`def f: f; f`:                  "longer than",
		`[range(100)] | map(tostring)`: "over the limit",
		`.a.b.c | tonumber`:            "failed",
	} {
		s := compileRoutes(t, Options{MaxOutput: 100}, hookgate.Route{Transform: prog, Handlers: []string{"h"}})
		res := s.Evaluate(input(t, `{"a":{"b":{"c":"x"}}}`), AtDispatch)
		r := res.DeadReason()
		if !strings.HasPrefix(r, "transform_failed: route 1: ") || !strings.Contains(r, want) {
			t.Errorf("%s: reason %q, want %q", prog, r, want)
		}
	}
}

func TestAnswerFields(t *testing.T) {
	t.Parallel()
	in := input(t, `{"id":"al_1","n":7,"ok":true,"obj":{}}`)
	got := AnswerFields(map[string]string{
		"alert_id": "body:id", "n": "body:n", "ok": "body:ok", "obj": "body:obj", "none": "body:missing",
		"integration_id": "connection:name", "rid": "receipt:id", "src": "header:X-Source",
	}, in.Header, in.Env, ReceiptNames{ID: "r1", ConnectionName: "c"})
	b, _ := json.Marshal(got)
	want := `{"alert_id":"al_1","integration_id":"c","n":7,"none":null,"obj":null,"ok":true,"rid":"r1","src":"pager"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	for _, bad := range []string{"body:", "connection:secret", "receipt:body", "id", "env:HOME"} {
		if ValidateAnswerSource(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzEvaluate runs every kind of rule on arbitrary verified bodies: the
// decode, the CEL activation, the schema and the transform must answer, not
// panic, whatever the body holds.
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{`{}`, `{"data":{"incident_status":"triage"}}`, `{"a":[1,2,{"b":null}],"n":1e400}`, `{"id":12345678901234567890}`, `{"a":"\ud800"}`} {
		f.Add(s)
	}
	var cp Compiler
	set, err := cp.Compile(&hookgate.Connection{Name: "c", Routes: []hookgate.Route{{
		Filter:    `has(body.data) && body.data.incident_status != "live" || size(headers) > 0`,
		Schema:    &hookgate.RouteSchema{Inline: json.RawMessage(`{"type":"object","properties":{"data":{"type":"object"}}}`)},
		Transform: `{d: .data, keys: keys}`,
		Handlers:  []string{"h"},
	}}}, Options{MaxOutput: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		env, err := ParseEnvelope("application/json", []byte(body))
		if err != nil {
			return
		}
		res := set.Evaluate(&Input{ConnectionName: "c", Header: http.Header{"X": {"y"}}, Env: env}, DryRun)
		_ = res.DeadReason()
		_ = res.Invalid()
	})
}
