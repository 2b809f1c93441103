package rules

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hookgate/hookgate"
)

// Compiler compiles the payload rules of connections. It holds the CEL
// environment that every filter it compiles shares (building one costs
// more than compiling an expression); it is safe for concurrent use.
type Compiler struct {
	filters filterEnv
}

// Options say where a connection's rules come from and what bounds them.
type Options struct {
	// Dir is the directory relative schema file paths are read from (the
	// config file's directory).
	Dir string
	// Files allows schema files: file-defined connections only. A
	// connection registered through the admin API gives its schema inline.
	Files bool
	// MaxOutput bounds a transform's output in bytes (the connection's
	// max_payload_bytes); 0 means no bound besides the time bound.
	MaxOutput int
}

// Validate modes of a route's schema (SPEC §4.4).
const (
	ValidateAsync = "async"
	ValidateSync  = "sync"
)

// Set is a connection's routes compiled: event types, filters, schemas and
// transforms, ready to evaluate a delivery. It is immutable once compiled.
type Set struct {
	routes []route
	// active: some route has a filter, a schema or a transform. A set
	// without any decides on event types alone, which costs nothing beyond
	// comparing strings (ingress keeps that path free of any decoding).
	active    bool
	maxOutput int
}

type route struct {
	cfg       hookgate.Route
	filter    *filter
	schema    *jsonschema.Schema
	sync      bool
	transform *transform
}

// Compile compiles the routes of c. Its error names the route (1-based, as
// "route 2") and, for an expression, the line and column of each problem.
func (cp *Compiler) Compile(c *hookgate.Connection, opt Options) (*Set, error) {
	s := &Set{routes: make([]route, len(c.Routes)), maxOutput: opt.MaxOutput}
	for i, r := range c.Routes {
		rt := route{cfg: r}
		var err error
		if strings.TrimSpace(r.Filter) != "" {
			if rt.filter, err = compileFilter(&cp.filters, r.Filter); err != nil {
				return nil, fmt.Errorf("route %d: filter %q: %w", i+1, cutExpr(r.Filter), err)
			}
		}
		switch r.Validate {
		case "", ValidateAsync:
		case ValidateSync:
			rt.sync = true
		default:
			return nil, fmt.Errorf("route %d: validate is %q: it must be sync or async", i+1, r.Validate)
		}
		if r.Schema.IsZero() {
			if r.Validate != "" {
				return nil, fmt.Errorf("route %d: validate is set but the route has no schema", i+1)
			}
		} else if rt.schema, err = compileSchema(r.Schema, opt.Dir, opt.Files); err != nil {
			return nil, fmt.Errorf("route %d: %w", i+1, err)
		}
		if strings.TrimSpace(r.Transform) != "" {
			if rt.transform, err = compileTransform(r.Transform); err != nil {
				return nil, fmt.Errorf("route %d: %w", i+1, err)
			}
		}
		s.active = s.active || rt.filter != nil || rt.schema != nil || rt.transform != nil
		s.routes[i] = rt
	}
	return s, nil
}

// cutExpr shortens an expression quoted in an error message.
func cutExpr(src string) string { return cut(src, 120) }

// Active reports whether any route has a filter, a schema or a transform.
// A set that is not active decides on event types alone.
func (s *Set) Active() bool { return s != nil && s.active }

// Input is one verified delivery as the rules see it.
type Input struct {
	ConnectionName string
	ConnectionType string
	Header         http.Header
	Env            Envelope
	EventType      string
}

// Stage says which rules an evaluation runs.
type Stage uint8

// Stages. Event types and filters decide at every stage.
const (
	// AtIngest adds the schemas of synchronous routes.
	AtIngest Stage = 1 << iota
	// AtDispatch adds the schemas of asynchronous routes and the
	// transforms.
	AtDispatch
	// DryRun is both: what `hookgate rules test` shows.
	DryRun = AtIngest | AtDispatch
)

// RouteResult is what the rules of one route said of a delivery.
type RouteResult struct {
	// Route is the route's 1-based index on its connection.
	Route    int      `json:"route"`
	Events   []string `json:"events,omitempty"`
	Handlers []string `json:"handlers"`
	// EventsMatch: the route's events list takes the delivery's event type.
	EventsMatch bool `json:"events_match"`
	// Filter is the filter's result, when the route has one and its
	// events matched.
	Filter *FilterResult `json:"filter,omitempty"`
	// Takes: the events matched and the filter (if any) passed.
	Takes bool `json:"takes"`
	// Validate is the schema's mode (sync or async) when the route has one.
	Validate string `json:"validate,omitempty"`
	// SchemaChecked says the schema ran at this stage; SchemaErrors are its
	// failures (at most MaxSchemaErrors).
	SchemaChecked bool          `json:"schema_checked,omitempty"`
	SchemaErrors  []SchemaError `json:"schema_errors,omitempty"`
	// Body is the transform's output, the body the route's handlers get;
	// nil without a transform (they get the stored body).
	Body json.RawMessage `json:"transformed_body,omitempty"`
	// TransformError is why the transform failed.
	TransformError string `json:"transform_error,omitempty"`
}

// Result is what the rules of a connection said of a delivery.
type Result struct {
	Routes []RouteResult `json:"routes"`
	// Taken: at least one route takes the delivery; otherwise it is
	// filtered.
	Taken bool `json:"taken"`
	// BodyError is set when the body could not be decoded for the rules
	// (a stored body whose content no longer parses); no route takes it.
	BodyError string `json:"body_error,omitempty"`
}

// Evaluate runs the rules of stage on one delivery. It is the one
// evaluation ingress (AtIngest), dispatch (AtDispatch) and the dry run
// (DryRun) share, so they cannot disagree. The body is decoded once, and
// only if a rule of a route whose events match needs it.
func (s *Set) Evaluate(in *Input, stage Stage) *Result {
	res := &Result{Routes: make([]RouteResult, len(s.routes))}
	doc := &document{env: in.Env}
	var act *activation
	for i := range s.routes {
		rt := &s.routes[i]
		rr := &res.Routes[i]
		rr.Route, rr.Events, rr.Handlers = i+1, rt.cfg.Events, rt.cfg.Handlers
		if rt.schema != nil {
			rr.Validate = ValidateAsync
			if rt.sync {
				rr.Validate = ValidateSync
			}
		}
		rr.EventsMatch = MatchEvents(rt.cfg.Events, in.EventType)
		if !rr.EventsMatch {
			continue
		}
		if rt.filter != nil {
			if act == nil {
				act = &activation{in: in, doc: doc}
			}
			if _, err := doc.value(); err != nil {
				rr.Filter = &FilterResult{Error: err.Error()}
			} else {
				f := rt.filter.eval(act)
				rr.Filter = &f
			}
			if !rr.Filter.Pass {
				continue
			}
		}
		rr.Takes = true
		res.Taken = true
		if rt.schema != nil && ((rt.sync && stage&AtIngest != 0) || (!rt.sync && stage&AtDispatch != 0)) {
			rr.SchemaChecked = true
			v, err := doc.value()
			if err != nil {
				rr.SchemaErrors = []SchemaError{{Path: "", Message: err.Error()}}
			} else {
				rr.SchemaErrors = validate(rt.schema, v)
			}
		}
		if rt.transform != nil && stage&AtDispatch != 0 {
			v, err := doc.value()
			if err == nil {
				rr.Body, err = rt.transform.run(v, in.EventType, in.ConnectionName, s.maxOutput)
			}
			if err != nil {
				rr.TransformError = err.Error()
			}
		}
	}
	if doc.err != nil && !res.Taken {
		res.BodyError = doc.err.Error()
	}
	return res
}

// Invalid is the failure of the first synchronous route whose schema the
// delivery fails, or nil.
func (r *Result) Invalid() *ValidationError {
	for _, rr := range r.Routes {
		if rr.Takes && rr.Validate == ValidateSync && len(rr.SchemaErrors) > 0 {
			return &ValidationError{Route: rr.Route, Errors: rr.SchemaErrors}
		}
	}
	return nil
}

// DeadReason is why dispatch must send the receipt to dead without calling
// a handler: a route that takes it fails its asynchronous schema
// ("validation_failed: route 1: /severity: …") or its transform
// ("transform_failed: route 2: …"). Empty when the delivery can go on.
func (r *Result) DeadReason() string {
	for _, rr := range r.Routes {
		if !rr.Takes {
			continue
		}
		if rr.Validate == ValidateAsync && len(rr.SchemaErrors) > 0 {
			return fmt.Sprintf("%s: route %d: %s", ReasonValidationFailed, rr.Route, summarize(rr.SchemaErrors))
		}
		if rr.TransformError != "" {
			return fmt.Sprintf("%s: route %d: %s", ReasonTransformFailed, rr.Route, cut(rr.TransformError, 1000))
		}
	}
	return ""
}

// FilterNote explains a delivery no route takes when a filter could not be
// evaluated ("route 1 filter: …"), for the filtered receipt's reason; empty
// when every filter simply said false.
func (r *Result) FilterNote() string {
	if r.Taken {
		return ""
	}
	if r.BodyError != "" {
		return cut(r.BodyError, 500)
	}
	for _, rr := range r.Routes {
		if rr.Filter != nil && rr.Filter.Error != "" {
			return cut(fmt.Sprintf("route %d filter: %s", rr.Route, rr.Filter.Error), 500)
		}
	}
	// Which filters turned it away, when routes matched its event type.
	var refused []string
	for _, rr := range r.Routes {
		if rr.EventsMatch && rr.Filter != nil && !rr.Takes {
			refused = append(refused, fmt.Sprint(rr.Route))
		}
	}
	switch len(refused) {
	case 0:
		return "" // no route for its event type
	case 1:
		return "route " + refused[0] + " filter is false"
	}
	return cut("routes "+strings.Join(refused, ", ")+" filters are false", 500)
}

// Reason codes of receipts the rules stop.
const (
	ReasonValidationFailed = hookgate.EValidation
	ReasonTransformFailed  = "transform_failed"
)
