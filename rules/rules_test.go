package rules

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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
	if v, _ := env.Field("event"); err != nil || v != "delivered" {
		t.Fatalf("ParseBatch = %v, %v", env, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `[1]`, `[{"a":1},[]]`, `[{"a":1}]x`, `[{"a":1}`, `[{"a":1},{"b":}]`} {
		if _, err := ParseBatch([]byte(bad)); hookgate.ErrorCode(err) != hookgate.EMalformed {
			t.Errorf("ParseBatch(%q) = %v, want EMalformed", bad, err)
		}
	}
}

func TestEnvelopeField(t *testing.T) {
	t.Parallel()
	env, err := ParseEnvelope("application/json", []byte(`{"s":"a\"b\u00e9\n","n":-1.5e3,"i":7,"t":true,"f":false,"z":null,
		"o":{"k":"v","a*b":"star","x.y":"dot"},"arr":[1,2],"dup":"first","dup":"second","#":"hash","w@":"at"}`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"s": "a\"bé\n", "n": "-1.5e3", "i": "7", "t": "true", "f": "false", "o.k": "v",
		"o.a*b": "star", "dup": "first", "#": "hash", "w@": "at", "arr.1": "2",
	} {
		if got, ok := env.Field(path); !ok || got != want {
			t.Errorf("Field(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, absent := range []string{"z", "o", "arr", "arr.2", "missing", "o.missing", "s.x", "o.x.y", "o.a?b", ""} {
		if got, ok := env.Field(absent); ok {
			t.Errorf("Field(%q) = %q, want absent", absent, got)
		}
	}
	form, err := ParseEnvelope("application/x-www-form-urlencoded", []byte("a=1&b=x&b=y&c.d=e"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"a": "1", "c.d": "e"} {
		if got, ok := form.Field(path); !ok || got != want {
			t.Errorf("form Field(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	if got, ok := form.Field("b"); ok {
		t.Errorf("a repeated form field is not a scalar, got %q", got)
	}
	if got, ok := (Envelope{}).Field("a"); ok {
		t.Errorf("empty envelope has field a = %q", got)
	}
}

// FuzzParseEnvelope checks the validating scan against encoding/json: a body
// is accepted exactly when the standard library decodes it as one JSON object
// with nothing after it, and every top-level scalar field reads back as the
// standard library decodes it.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"type":"x","n":1.5e-3,"b":true,"z":null,"o":{"p":[1,"2"]}}`,
		` {"a":"\u00e9\ud83d\ude00"} `, `{"a":1}x`, `[{"a":1}]`, `{"a":01}`, `{"a":"\x01"}`, `{"a":1,}`, "{\"a\":\"\xff\"}",
		`{"a":-0.0E+1}`, `{"a":"\/"}`, `{"a" : [ ] , "b" : { } }`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope("application/json", body)
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		want := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != want {
			t.Fatalf("ParseEnvelope(%q) error %v, encoding/json says valid object: %v", body, err, want)
		}
		if err != nil {
			if hookgate.ErrorCode(err) != hookgate.EMalformed {
				t.Fatalf("error code %s, want %s", hookgate.ErrorCode(err), hookgate.EMalformed)
			}
			return
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("encoding/json cannot decode an accepted body: %v", err)
		}
		for k, raw := range fields {
			if k == "" || strings.ContainsAny(k, ".\\") || bytes.Count(body, []byte(`"`+k+`"`)) != 1 {
				continue // not one literal path segment, maybe repeated or escaped
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			got, ok := env.Field(k)
			switch v := v.(type) {
			case string:
				if !ok || got != v {
					t.Errorf("Field(%q) = %q, %v; encoding/json decodes %q", k, got, ok, v)
				}
			case json.Number:
				if !ok || got != v.String() {
					t.Errorf("Field(%q) = %q, %v; encoding/json decodes %s", k, got, ok, v)
				}
			case bool:
				if !ok || got != strconv.FormatBool(v) {
					t.Errorf("Field(%q) = %q, %v; encoding/json decodes %v", k, got, ok, v)
				}
			default:
				if ok {
					t.Errorf("Field(%q) = %q for a non-scalar %T", k, got, v)
				}
			}
		}
	})
}

func TestEnvelopeFormContentTypes(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded; charset=utf-8", " application/x-www-form-urlencoded ;charset=UTF-8"} {
		env, err := ParseEnvelope(ct, []byte("a=1"))
		if v, _ := env.Field("a"); err != nil || v != "1" {
			t.Errorf("%q: form not parsed: %q, %v", ct, v, err)
		}
	}
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencodedx"} {
		if _, err := ParseEnvelope(ct, []byte("a=1")); hookgate.ErrorCode(err) != hookgate.EMalformed {
			t.Errorf("%q: a=1 accepted as JSON: %v", ct, err)
		}
	}
}

// TestInvalidJSONOneWording: a body that is not JSON at all and one that
// breaks off inside an object are worded the same way.
func TestInvalidJSONOneWording(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`hello`, `{"a":`, `{"a" 1}`, `<xml/>`} {
		_, err := ParseEnvelope("application/json", []byte(body))
		if err == nil || !strings.HasPrefix(hookgate.ErrorMessage(err), "body is not valid JSON: ") {
			t.Errorf("%q: %v", body, err)
		}
	}
}
