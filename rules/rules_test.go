package rules

import (
	"net/http"
	"testing"

	"github.com/hookgate/hookgate"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ct, body string
		ok             bool
	}{
		{"object", "application/json", `{"action":"opened"}`, true},
		{"object with whitespace", "application/json", " \n{\"a\":1}\n", true},
		{"array", "application/json", `[{"a":1}]`, false},
		{"string", "application/json", `"hello"`, false},
		{"number", "application/json", `42`, false},
		{"null", "application/json", `null`, false},
		{"invalid", "application/json", `{"a":`, false},
		{"empty", "application/json", ``, false},
		{"trailing data", "application/json", `{"a":1} {"b":2}`, false},
		{"not json at all", "text/plain", `hello`, false},
		{"form", "application/x-www-form-urlencoded", `command=%2Fdeploy&text=prod`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope(tt.ct, []byte(tt.body))
			if tt.ok && err != nil {
				t.Fatalf("want ok, got %v", err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("want error, got %v", env)
				}
				if hookgate.ErrorStatus(err) != 400 {
					t.Fatalf("status = %d, want 400", hookgate.ErrorStatus(err))
				}
			}
		})
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	env, err := ParseEnvelope("application/json", []byte(`{"type":"Issue","action":"create","data":{"id":7,"ok":true},"n":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Github-Event": {"pull_request"}}
	for spec, want := range map[string]string{
		"header:X-GitHub-Event":    "pull_request",
		"body:type":                "Issue",
		"body:type+body:action":    "Issue.create",
		"body:data.id":             "7",
		"body:data.ok":             "true",
		"body:n":                   "1.5",
		"body:missing":             "",
		"body:data":                "", // objects are not event types
		"header:Missing+body:type": "Issue",
		"":                         "",
	} {
		if got := Extract(spec, h, env); got != want {
			t.Errorf("Extract(%q) = %q, want %q", spec, got, want)
		}
	}
}

func TestValidateSource(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "header:X", "body:a.b", "body:type+body:action"} {
		if err := ValidateSource(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"type", "query:x", "body:", "header:X+"} {
		if ValidateSource(bad) == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestMatchEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		events []string
		ev     string
		want   bool
	}{
		{nil, "anything", true},
		{nil, "", true},
		{[]string{"pull_request"}, "pull_request", true},
		{[]string{"pull_request"}, "push", false},
		{[]string{"issue.*"}, "issue.create", true},
		{[]string{"issue.*"}, "issues", false},
		{[]string{"push", "issue.*"}, "push", true},
		{[]string{"*"}, "x", true},
	}
	for _, tt := range tests {
		if got := MatchEvents(tt.events, tt.ev); got != tt.want {
			t.Errorf("MatchEvents(%v, %q) = %v, want %v", tt.events, tt.ev, got, tt.want)
		}
	}
	routes := []hookgate.Route{{Events: []string{"a"}, Handlers: []string{"h1"}}, {Handlers: []string{"h2"}}}
	if got := MatchRoutes(routes, "b"); len(got) != 1 || got[0].Handlers[0] != "h2" {
		t.Errorf("MatchRoutes = %v", got)
	}
}

func TestParseBatch(t *testing.T) {
	env, err := ParseBatch([]byte(` [{"event":"delivered","n":1},{"event":"open"}]`))
	if err != nil || env["event"] != "delivered" {
		t.Fatalf("ParseBatch = %v, %v", env, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `[1]`, `[{"a":1},[]]`, `[{"a":1}]x`, `[{"a":1}`} {
		if _, err := ParseBatch([]byte(bad)); hookgate.ErrorCode(err) != hookgate.EMalformed {
			t.Errorf("ParseBatch(%q) = %v, want EMalformed", bad, err)
		}
	}
}
