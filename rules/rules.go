// Package rules holds what hookgate decides from a delivery's content: the
// envelope check, where the event type and nonce live, and which routes match.
package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/hookgate/hookgate"
)

// Envelope is a verified body checked once: a JSON object, kept as the raw
// bytes it arrived as and read field by field on demand, or the fields of a
// form-encoded body. Checking a body is a validating scan, not a decode: a
// delivery is stored as received, and only the few fields that routing
// needs (event type, nonce) are ever looked up.
type Envelope struct {
	json []byte         // a JSON object, valid; nil for a form body
	form map[string]any // the fields of a form-encoded body
	all  []byte         // a batch body: the whole array (json is its first element)
}

// JSONEnvelope wraps a JSON object that is known to be valid (tests, and
// callers that checked it themselves).
func JSONEnvelope(obj []byte) Envelope { return Envelope{json: obj} }

// FormEnvelope wraps the fields of a form body (a string, or []string for a
// repeated field).
func FormEnvelope(fields map[string]any) Envelope { return Envelope{form: fields} }

// ParseEnvelope enforces SPEC §2 check 8: the body must be a JSON object
// (arrays, scalars and invalid JSON are rejected). Form-encoded bodies are
// parsed to an object of their fields. Call it only after verification.
func ParseEnvelope(contentType string, body []byte) (Envelope, error) {
	if IsForm(contentType) {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "form body does not parse: %v", err)
		}
		fields := make(map[string]any, len(vals))
		for k, v := range vals {
			if len(v) == 1 {
				fields[k] = v[0]
			} else {
				fields[k] = v
			}
		}
		return Envelope{form: fields}, nil
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "body is empty; a JSON object is required")
	}
	if trimmed[0] != '{' {
		if jsonKind(trimmed[0]) == "" {
			return Envelope{}, malformedJSON(body, "object")
		}
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "body must be a JSON object, not %s", jsonKind(trimmed[0]))
	}
	if tooDeep(trimmed, MaxDepth) {
		return Envelope{}, errTooDeep
	}
	if !gjson.ValidBytes(body) {
		return Envelope{}, malformedJSON(body, "object")
	}
	return Envelope{json: body}, nil
}

// ParseBatch checks a body that is a JSON array of event objects (SendGrid
// posts its events in batches): it must hold at least one element, every
// element must be an object, and the first element is the envelope (event
// type and nonce come from it).
func ParseBatch(body []byte) (Envelope, error) {
	if tooDeep(body, MaxDepth) {
		return Envelope{}, errTooDeep
	}
	if !gjson.ValidBytes(body) {
		return Envelope{}, malformedJSON(body, "array")
	}
	root := gjson.ParseBytes(body)
	if !root.IsArray() {
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "body must be a JSON array of event objects")
	}
	var (
		first []byte
		n     int
		bad   error
	)
	root.ForEach(func(_, item gjson.Result) bool {
		if !item.IsObject() {
			bad = hookgate.Errorf(hookgate.EMalformed, "element %d of the body array must be a JSON object, not %s", n, firstNonEmpty(jsonKind(item.Raw[0]), "invalid JSON"))
			return false
		}
		if n == 0 {
			first = []byte(item.Raw)
		}
		n++
		return true
	})
	switch {
	case bad != nil:
		return Envelope{}, bad
	case n == 0:
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "body is an empty array; at least one event object is required")
	}
	return Envelope{json: first, all: body}, nil
}

// ParseFormPayload reads a form-encoded body whose field holds the JSON
// event (GitHub's form content type: payload=<JSON>); that JSON must be an
// object, as a JSON body must.
func ParseFormPayload(body []byte, field string) (Envelope, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "form body does not parse: %v", err)
	}
	if !vals.Has(field) {
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "form body has no %s field holding the JSON event", field)
	}
	env, err := ParseEnvelope("application/json", []byte(vals.Get(field)))
	if err != nil {
		return Envelope{}, hookgate.Errorf(hookgate.EMalformed, "form field %s: %s", field, hookgate.ErrorMessage(err))
	}
	return env, nil
}

// errTooDeep refuses a body nested deeper than MaxDepth (SPEC §4.4: 400).
var errTooDeep = hookgate.Errorf(hookgate.EMalformed, "body nests JSON arrays and objects more than %d levels deep", MaxDepth)

// IsForm reports whether a Content-Type names a form-encoded body (the media
// type, case-insensitive, before any parameters), without the allocations
// of mime.ParseMediaType on the path of every delivery.
func IsForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// malformedJSON is the one wording of a body that is not valid JSON
// ("body is not valid JSON: <where and why>"). It explains why body, which failed validation, is not the JSON
// value wanted. Only invalid bodies get here, so the cost of a decode that
// finds the position is paid on the error path alone.
func malformedJSON(body []byte, want string) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return hookgate.Errorf(hookgate.EMalformed, "body is not valid JSON: %v", err)
	}
	return hookgate.Errorf(hookgate.EMalformed, "body has data after the JSON %s", want)
}

func jsonKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == 'n':
		return "null"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a number"
	}
	return "" // not the start of any JSON value
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Field returns the value at a dotted path ("data.object.id"; a number
// indexes an array, "items.0.id") as a string, and whether it was present and
// scalar: a string as is, a number as it was written, a boolean as true or
// false. Objects, arrays and null are not values. Where a JSON object repeats
// a key, the first occurrence counts.
func (e Envelope) Field(path string) (string, bool) {
	if e.form != nil {
		return formField(e.form, path)
	}
	if e.json == nil {
		return "", false
	}
	v := gjson.GetBytes(e.json, jsonPath(path))
	switch v.Type {
	case gjson.String:
		// As encoding/json decodes it: invalid UTF-8 becomes U+FFFD (a
		// text column of PostgreSQL would refuse the raw bytes).
		return validUTF8(v.Str), true
	case gjson.Number:
		return v.Raw, true
	case gjson.True, gjson.False:
		return v.Raw, true
	}
	return "", false
}

// jsonPath turns a dotted path into a gjson path whose segments match keys
// literally: gjson gives characters such as *, ?, #, @, |, [ and { meanings
// of their own, so a segment holding any of them is escaped.
func jsonPath(path string) string {
	plain := true
	for i := 0; i < len(path); i++ {
		if c := path[i]; c != '.' && !plainKeyChar(c) {
			plain = false
			break
		}
	}
	if plain {
		return path
	}
	parts := strings.Split(path, ".")
	for i, p := range parts {
		parts[i] = gjson.Escape(p)
	}
	return strings.Join(parts, ".")
}

// plainKeyChar reports whether gjson reads c literally in a path (the
// characters gjson.Escape leaves alone).
func plainKeyChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c <= ' ' || c > '~' || c == '_' || c == '-' || c == ':'
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

func formField(fields map[string]any, path string) (string, bool) {
	if s, ok := fields[path].(string); ok {
		return s, true
	}
	return "", false
}

// ValidateSource checks an event_type or nonce source spec:
// "header:Name" or "body:path", several joined by "+".
func ValidateSource(spec string) error {
	if spec == "" {
		return nil
	}
	for _, part := range strings.Split(spec, "+") {
		kind, name, ok := strings.Cut(part, ":")
		if !ok || name == "" || (kind != "header" && kind != "body") {
			return fmt.Errorf("source %q: each part must be header:Name or body:path", spec)
		}
	}
	return nil
}

// Extract reads a source spec: each "+"-joined part is read from a header or
// the envelope, and the present values are joined with ".", so
// "body:type+body:action" gives "issue.create".
func Extract(spec string, h http.Header, env Envelope) string {
	if spec == "" {
		return ""
	}
	var parts []string
	for _, part := range strings.Split(spec, "+") {
		kind, name, _ := strings.Cut(part, ":")
		var v string
		switch kind {
		case "header":
			v = h.Get(name)
		case "body":
			v, _ = env.Field(name)
		}
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ".")
}

// MatchEvents reports whether eventType matches a route's events list: an
// empty list matches everything; an entry ending in "*" matches by prefix.
func MatchEvents(events []string, eventType string) bool {
	if len(events) == 0 {
		return true
	}
	for _, e := range events {
		if p, ok := strings.CutSuffix(e, "*"); ok {
			if strings.HasPrefix(eventType, p) {
				return true
			}
		} else if e == eventType {
			return true
		}
	}
	return false
}

// MatchRoutes returns the routes that match eventType, in order.
func MatchRoutes(routes []hookgate.Route, eventType string) []hookgate.Route {
	var out []hookgate.Route
	for _, r := range routes {
		if MatchEvents(r.Events, eventType) {
			out = append(out, r)
		}
	}
	return out
}

// AnyMatch reports whether any route's events list takes eventType: the
// whole decision for a connection without filters (Set.Active is false),
// made without allocating.
func AnyMatch(routes []hookgate.Route, eventType string) bool {
	for i := range routes {
		if MatchEvents(routes[i].Events, eventType) {
			return true
		}
	}
	return false
}
