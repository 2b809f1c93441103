// Package rules holds what hookgate decides from a delivery's content: the
// envelope check, where the event type and nonce live, and which routes match.
package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookgate/hookgate"
)

// Envelope is a verified body parsed once: the JSON object root (or the
// form fields of a form-encoded body).
type Envelope map[string]any

// ParseEnvelope enforces SPEC §2 check 8: the body must be a JSON object
// (arrays, scalars and invalid JSON are rejected). Form-encoded bodies are
// parsed to an object of their fields. Call it only after verification.
func ParseEnvelope(contentType string, body []byte) (Envelope, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, hookgate.Errorf(hookgate.EMalformed, "form body does not parse: %v", err)
		}
		env := make(Envelope, len(vals))
		for k, v := range vals {
			if len(v) == 1 {
				env[k] = v[0]
			} else {
				env[k] = v
			}
		}
		return env, nil
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body is empty; a JSON object is required")
	}
	if trimmed[0] != '{' {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body must be a JSON object, not %s", jsonKind(trimmed[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var env Envelope
	if err := dec.Decode(&env); err != nil {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body has data after the JSON object")
	}
	return env, nil
}

// ParseBatch checks a body that is a JSON array of event objects (SendGrid
// posts its events in batches): it must hold at least one element, every
// element must be an object, and the first element is returned as the
// envelope (event type and nonce come from it).
func ParseBatch(body []byte) (Envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var items []json.RawMessage
	if err := dec.Decode(&items); err != nil {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body is not a valid JSON array: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body has data after the JSON array")
	}
	if len(items) == 0 {
		return nil, hookgate.Errorf(hookgate.EMalformed, "body is an empty array; at least one event object is required")
	}
	var first Envelope
	for i, it := range items {
		it = bytes.TrimLeft(it, " \t\r\n")
		if len(it) == 0 || it[0] != '{' {
			return nil, hookgate.Errorf(hookgate.EMalformed, "element %d of the body array must be a JSON object, not %s", i, jsonKind(it[0]))
		}
		if i == 0 {
			d := json.NewDecoder(bytes.NewReader(it))
			d.UseNumber()
			if err := d.Decode(&first); err != nil {
				return nil, hookgate.Errorf(hookgate.EMalformed, "element 0 of the body array: %v", err)
			}
		}
	}
	return first, nil
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
	return "invalid JSON"
}

// Field returns the value at a dotted path ("data.object.id") as a string,
// and whether it was present and scalar.
func (e Envelope) Field(path string) (string, bool) {
	var cur any = map[string]any(e)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
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
