package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// document is the body of one delivery decoded for the rules that read it
// whole (filter, schema, transform): decoded at most once, and only when a
// rule asks. Numbers keep their text (json.Number), so a schema and a jq
// program see 12345678901234567890 exactly.
type document struct {
	env Envelope

	decoded bool
	v       any
	err     error

	celDone bool
	cel     any
}

// Doc is the JSON the rules read: a JSON body as it arrived (the whole
// array for a batch), the JSON of GitHub's form payload field, or nil for
// a form body (whose fields are the document) and an empty one.
func (e Envelope) doc() []byte {
	if e.all != nil {
		return e.all
	}
	return e.json
}

func (d *document) value() (any, error) {
	if d.decoded {
		return d.v, d.err
	}
	d.decoded = true
	switch {
	case d.env.form != nil:
		m := make(map[string]any, len(d.env.form))
		for k, v := range d.env.form {
			if vs, ok := v.([]string); ok {
				list := make([]any, len(vs))
				for i, s := range vs {
					list[i] = s
				}
				m[k] = list
				continue
			}
			m[k] = v
		}
		d.v = m
	case d.env.doc() == nil:
		d.v = map[string]any{} // a provider's empty body stands for an empty object
	default:
		dec := json.NewDecoder(bytes.NewReader(d.env.doc()))
		dec.UseNumber()
		if err := dec.Decode(&d.v); err != nil {
			d.err = fmt.Errorf("decode body: %w", err)
		}
	}
	return d.v, d.err
}

// celValue is the document with its numbers as CEL wants them: an int when
// the number is whole and fits, else a double. It is a copy: the schema and
// the transform keep the exact numbers.
func (d *document) celValue() (any, error) {
	if d.celDone {
		return d.cel, nil
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.cel, d.celDone = celNumbers(v), true
	return d.cel, nil
}

func celNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = celNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = celNumbers(e)
		}
		return out
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	}
	return v
}
