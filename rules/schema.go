package rules

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/hookgate/hookgate"
)

// Bounds of what a failed validation reports (a body can fail a schema in
// as many places as it has values).
const (
	MaxSchemaErrors       = 100
	maxSchemaErrorMessage = 300
)

// SchemaError is one way a body fails its route's schema: where (a JSON
// pointer into the body, "" for the body itself) and why.
type SchemaError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// compileSchema compiles a route's schema once. A file is read relative to
// dir; an inline schema may not load anything ($ref to another document),
// so a schema given through the admin API cannot read the server's files.
func compileSchema(s *hookgate.RouteSchema, dir string, allowFiles bool) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	var loc string
	if s.Path != "" {
		if !allowFiles {
			return nil, errors.New("a schema file can be named only in the config file; give the schema inline")
		}
		p := s.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", s.Path, err)
		}
		loc = abs
	} else {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Inline))
		if err != nil {
			return nil, fmt.Errorf("inline schema is not JSON: %w", err)
		}
		c.UseLoader(noLoader{})
		loc = "urn:hookgate:route-schema"
		if err := c.AddResource(loc, doc); err != nil {
			return nil, fmt.Errorf("inline schema: %w", err)
		}
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return sch, nil
}

// noLoader refuses every reference outside an inline schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("an inline schema cannot load %s: put the definition under $defs", url)
}

// validate checks v and lists every failure, at most MaxSchemaErrors.
func validate(sch *jsonschema.Schema, v any) []SchemaError {
	err := sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []SchemaError{{Path: "", Message: cut(err.Error(), maxSchemaErrorMessage)}}
	}
	p := message.NewPrinter(language.English)
	var out []SchemaError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) >= MaxSchemaErrors {
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, SchemaError{Path: pointer(e.InstanceLocation), Message: cut(e.ErrorKind.LocalizedString(p), maxSchemaErrorMessage)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// pointer is the JSON pointer (RFC 6901) of a location.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// ValidationError is a delivery that fails the schema of a synchronous
// route (SPEC §2 check 9): answered 400 validation_failed with Errors.
type ValidationError struct {
	Route  int // 1-based index of the route
	Errors []SchemaError
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: the body does not match the schema of route %d: %s", hookgate.EValidation, e.Route, summarize(e.Errors))
}

// Message is the human text of the 400 answer.
func (e *ValidationError) Message() string {
	n := len(e.Errors)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("the body does not match the schema of route %d: %d error%s", e.Route, n, s)
}

// summarize joins schema errors into one bounded line (a receipt's reason).
func summarize(errs []SchemaError) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		if b.Len() > 1000 {
			fmt.Fprintf(&b, "and %d more", len(errs)-i)
			break
		}
		path := e.Path
		if path == "" {
			path = "/"
		}
		b.WriteString(path + ": " + e.Message)
	}
	return b.String()
}
