package rules

import "bytes"

// MaxDepth is the deepest nesting of JSON arrays and objects a body may have
// (SPEC §4.4). Webhook payloads nest a handful of levels; the bound keeps
// every later reader of the body (validation, field lookups, CEL, jq) within
// a small stack.
const MaxDepth = 256

// tooDeep reports whether body nests arrays and objects deeper than limit.
// It is one pass over the bytes with a counter, so its stack does not grow
// with the nesting (the validator after it recurses once per level), and it
// skips strings, whose brackets do not nest. It does not validate: a body
// it passes may still be invalid JSON, which the validator then refuses.
func tooDeep(body []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end := stringEnd(body, i+1)
			if end < 0 {
				return false // an unterminated string: invalid, not deep
			}
			i = end
		case '[', '{':
			depth++
			if depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// stringEnd returns the index of the quote that closes the string starting
// at body[from], or -1. A quote preceded by an odd number of backslashes is
// escaped.
func stringEnd(body []byte, from int) int {
	for i := from; i < len(body); {
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		n := 0
		for k := q - 1; k >= from && body[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
	return -1
}
