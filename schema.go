package hookgate

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// RouteSchema is a route's JSON Schema (SPEC §4.4): the path of a schema
// file, or the schema itself inline. In YAML and JSON it is written as a
// string holding a path ("schemas/alert.json", read relative to the config
// file's directory), a string holding the schema's JSON ("{…}"), or the
// schema as an object (or true/false) in place.
type RouteSchema struct {
	// Path is the schema file. Only file-defined connections may name one.
	Path string
	// Inline is the schema document as JSON.
	Inline json.RawMessage
}

// IsZero reports whether no schema is set.
func (s *RouteSchema) IsZero() bool {
	return s == nil || (s.Path == "" && len(bytes.TrimSpace(s.Inline)) == 0)
}

func (s *RouteSchema) setString(v string) {
	if t := bytes.TrimSpace([]byte(v)); len(t) > 0 && t[0] == '{' {
		s.Path, s.Inline = "", json.RawMessage(t)
		return
	}
	s.Path, s.Inline = v, nil
}

// UnmarshalJSON reads a path, a string holding the schema's JSON, or the
// schema in place.
func (s *RouteSchema) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		s.setString(v)
		return nil
	}
	s.Path, s.Inline = "", append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the path as a string, or the inline schema in place.
func (s RouteSchema) MarshalJSON() ([]byte, error) {
	if s.Path != "" || len(s.Inline) == 0 {
		return json.Marshal(s.Path)
	}
	return s.Inline, nil
}

// UnmarshalYAML reads the same forms from YAML: a string, or a mapping
// (any YAML value) that is the schema in place.
func (s *RouteSchema) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	if str, ok := v.(string); ok {
		s.setString(str)
		return nil
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Errorf("schema: not expressible as JSON: %w", err)
	}
	s.Path, s.Inline = "", b
	return nil
}

// MarshalYAML writes the path, or the inline schema as YAML.
func (s RouteSchema) MarshalYAML() (any, error) {
	if s.Path != "" || len(s.Inline) == 0 {
		return s.Path, nil
	}
	var v any
	if err := json.Unmarshal(s.Inline, &v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return v, nil
}

// jsonable turns the maps a YAML decoder may produce with non-string keys
// into JSON objects.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}
