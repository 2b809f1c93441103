package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Bounds of a route filter (SPEC §4.4 "with a cost limit"). The cost is
// cel-go's own measure of the work an evaluation does (about one unit per
// operation, more for string and list operations by their size); a typical
// filter costs a few dozen units, so FilterCostLimit leaves room for
// comprehensions over a payload's lists while an expression that would loop
// over a large body many times is stopped. FilterTimeout bounds the wall
// time as well: the interpreter checks it every filterInterruptEvery
// iterations of a comprehension.
const (
	FilterCostLimit      = 1_000_000
	FilterTimeout        = 100 * time.Millisecond
	filterInterruptEvery = 100
)

// filterEnv declares what a filter sees: body (the JSON body, or the fields
// of a form body), headers (lower-cased name → first value), event_type and
// connection ({"name": …, "type": …}).
type filterEnv struct {
	once sync.Once
	env  *cel.Env
	err  error
}

func (f *filterEnv) get() (*cel.Env, error) {
	f.once.Do(func() {
		f.env, f.err = cel.NewEnv(
			cel.Variable("body", cel.DynType),
			cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("event_type", cel.StringType),
			cel.Variable("connection", cel.MapType(cel.StringType, cel.StringType)),
			// A JSON number is an int when it is whole and a double
			// otherwise; body.amount > 10.5 must work on either.
			cel.CrossTypeNumericComparisons(true),
		)
	})
	return f.env, f.err
}

// filter is a compiled CEL expression.
type filter struct {
	src string
	prg cel.Program
}

// compileFilter parses and type-checks a filter. Its error carries every
// issue with its line and column in the expression.
func compileFilter(fe *filterEnv, src string) (*filter, error) {
	env, err := fe.get()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", describeIssues(iss))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("the expression is a %s, not a boolean", t)
	}
	prg, err := env.Program(ast,
		cel.CostLimit(FilterCostLimit),
		cel.InterruptCheckFrequency(filterInterruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &filter{src: src, prg: prg}, nil
}

// describeIssues writes each CEL issue as "line L, column C: message",
// followed by the expression's line with a caret under the position.
func describeIssues(iss *cel.Issues) string {
	var b strings.Builder
	for i, e := range iss.Errors() {
		if i > 0 {
			b.WriteString("; ")
		}
		loc := e.Location
		if loc != nil && loc.Line() > 0 {
			fmt.Fprintf(&b, "line %d, column %d: ", loc.Line(), loc.Column()+1)
		}
		b.WriteString(e.Message)
	}
	return b.String()
}

// FilterResult is what a route's filter said of one delivery.
type FilterResult struct {
	// Pass is true when the expression evaluated to true.
	Pass bool `json:"pass"`
	// Error is why the expression could not be evaluated (then Pass is
	// false); a field the delivery lacks is not an error, just false.
	Error string `json:"error,omitempty"`
}

// eval runs the filter. A missing field or key makes the whole expression
// false (Convoy and Hookdeck filters behave so); any other failure (a type
// mismatch, the cost limit, the time limit) is false too, and says why.
func (f *filter) eval(act interpreter.Activation) FilterResult {
	ctx, cancel := context.WithTimeout(context.Background(), FilterTimeout)
	defer cancel()
	out, _, err := f.prg.ContextEval(ctx, act)
	if err != nil {
		if missingField(err) {
			return FilterResult{}
		}
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "interrupted") {
			return FilterResult{Error: fmt.Sprintf("evaluation exceeded %v", FilterTimeout)}
		}
		return FilterResult{Error: err.Error()}
	}
	if types.IsError(out) {
		if missingField(out.Value().(error)) {
			return FilterResult{}
		}
		return FilterResult{Error: fmt.Sprint(out.Value())}
	}
	b, ok := out.Value().(bool)
	if !ok {
		return FilterResult{Error: fmt.Sprintf("the expression gave %s, not a boolean", out.Type().TypeName())}
	}
	return FilterResult{Pass: b}
}

// missingField reports whether a CEL evaluation error says a field or key
// was absent (body.data.status where data has no status).
func missingField(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no such key") || strings.Contains(msg, "no such attribute") ||
		strings.Contains(msg, "no such field")
}

// activation resolves a filter's variables, each built only when the
// expression reads it.
type activation struct {
	in      *Input
	doc     *document
	headers map[string]string
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "body":
		v, err := a.doc.celValue()
		if err != nil {
			return nil, false
		}
		return v, true
	case "headers":
		if a.headers == nil {
			a.headers = make(map[string]string, len(a.in.Header))
			for k, vs := range a.in.Header {
				if len(vs) > 0 {
					a.headers[strings.ToLower(k)] = vs[0]
				}
			}
		}
		return a.headers, true
	case "event_type":
		return a.in.EventType, true
	case "connection":
		return map[string]string{"name": a.in.ConnectionName, "type": a.in.ConnectionType}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
