package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
)

// nested returns an object whose field "a" holds depth-1 nested arrays:
// depth levels in all.
func nested(depth int) []byte {
	return []byte(`{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
}

// TestEnvelopeDepth: SPEC §4.4, JSON nested deeper than 256 levels is a
// 400 (malformed_payload); brackets inside strings do not nest.
func TestEnvelopeDepth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		deep bool
	}{
		{"256 levels", nested(MaxDepth), false},
		{"257 levels", nested(MaxDepth + 1), true},
		{"brackets in a string", []byte(`{"a":"` + strings.Repeat("[{", 1000) + `"}`), false},
		{"escaped quote then brackets", []byte(`{"a":"\"` + strings.Repeat("[", 1000) + `"}`), false},
		{"escaped backslash ends the string", []byte(`{"a":"\\",` + `"b":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`), true},
		{"unterminated deep", []byte(`{"a":` + strings.Repeat("[", 100000)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEnvelope("application/json", tt.body)
			if !tt.deep {
				if errors.Is(err, errTooDeep) {
					t.Fatalf("refused as too deep: %v", err)
				}
				return
			}
			if hookgate.ErrorStatus(err) != 400 || hookgate.ErrorCode(err) != hookgate.EMalformed ||
				!strings.Contains(hookgate.ErrorMessage(err), "256 levels") {
				t.Fatalf("err = %v, want a 400 malformed_payload saying the nesting limit", err)
			}
		})
	}
	if _, err := ParseBatch([]byte(`[{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}]`)); !errors.Is(err, errTooDeep) {
		t.Fatalf("deep batch: err = %v, want the nesting limit", err)
	}
}

// TestDeepNestingKeepsTheStackSmall: a body of 500,000 nested arrays is
// refused without a stack that grows per level. The goroutine stack is
// capped at 1 MiB for the test: the recursive validator alone needs tens of
// MiB for this body (the process then dies with "stack exceeds limit").
func TestDeepNestingKeepsTheStackSmall(t *testing.T) {
	// Not parallel: the stack cap is process-wide.
	defer debug.SetMaxStack(debug.SetMaxStack(1 << 20))
	body := []byte(`{"a":` + strings.Repeat("[", 500000) + strings.Repeat("]", 500000) + `}`)
	done := make(chan error, 1)
	go func() {
		_, err := ParseEnvelope("application/json", body)
		done <- err
	}()
	if err := <-done; !errors.Is(err, errTooDeep) {
		t.Fatalf("err = %v, want the nesting limit", err)
	}
}

// FuzzDepth: tooDeep agrees with the nesting depth encoding/json's
// tokenizer (which keeps its own stack, not the goroutine's) finds in every
// valid JSON body, and never panics on invalid ones.
func FuzzDepth(f *testing.F) {
	f.Add(nested(MaxDepth))
	f.Add(nested(MaxDepth + 1))
	f.Add([]byte(`{"a":"[[[\"]]]","b":[[{"c":"\\"}]]}`))
	f.Add([]byte(`{"a":"\\\"[","b":[]}`))
	f.Add([]byte(`["\u005b",{"x":"}"}]`))
	f.Add([]byte(`"unterminated [[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, limit := range []int{0, 1, 2, 3, MaxDepth} {
			deep := tooDeep(body, limit)
			if !json.Valid(body) {
				continue
			}
			if want := jsonDepth(t, body) > limit; deep != want {
				t.Fatalf("tooDeep(%q, %d) = %v, want %v", body, limit, deep, want)
			}
		}
	})
}

func jsonDepth(t *testing.T, body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	depth, most := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return most
		}
		if err != nil {
			t.Fatalf("valid JSON does not tokenize: %v", err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			most = max(most, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}
