package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"
)

// TransformTimeout bounds one run of a route's jq program (SPEC §4.4 "with a
// step or time bound"): gojq checks the context between steps, so a program
// that loops (`repeat(.)`, `range(1e12)`) ends in an error, not a stuck worker.
const TransformTimeout = time.Second

// transform is a compiled jq program. It sees the body as its input, and
// $event_type and $connection. gojq gives it no environment ($ENV and env
// are empty), no input/inputs and no modules, so a program reads nothing but
// the delivery.
type transform struct {
	code *gojq.Code
}

var transformVars = []string{"$event_type", "$connection"}

func compileTransform(src string) (*transform, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("transform: %s", describeJQError(src, err))
	}
	code, err := gojq.Compile(q, gojq.WithVariables(transformVars))
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	return &transform{code: code}, nil
}

// describeJQError adds the line and column of a parse error.
func describeJQError(src string, err error) string {
	var pe *gojq.ParseError
	if errors.As(err, &pe) {
		line, col := 1, 1
		for i := 0; i < pe.Offset && i < len(src); i++ {
			if src[i] == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	}
	return err.Error()
}

// run applies the program to the body and encodes its one output as JSON,
// of at most limit bytes. No output, more than one output, an error, the
// timeout and an oversized output all fail.
func (t *transform) run(v any, eventType, connection string, limit int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), TransformTimeout)
	defer cancel()
	iter := t.code.RunWithContext(ctx, v, eventType, connection)
	out, ok := iter.Next()
	if !ok {
		return nil, errors.New("the program gave no output")
	}
	if err, isErr := out.(error); isErr {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("the program ran longer than %v", TransformTimeout)
		}
		return nil, fmt.Errorf("the program failed: %w", err)
	}
	if extra, more := iter.Next(); more {
		if err, isErr := extra.(error); isErr {
			return nil, fmt.Errorf("the program failed after its first output: %w", err)
		}
		return nil, errors.New("the program gave more than one output; wrap it in [ … ] to send an array")
	}
	b, err := gojq.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode the output: %w", err)
	}
	if limit > 0 && len(b) > limit {
		return nil, fmt.Errorf("the output is %d bytes, over the limit of %d", len(b), limit)
	}
	return b, nil
}
