// Package placeholder fills handler settings from a receipt: an http
// handler's header values, an exec handler's environment and arguments. The
// syntax is deliberately small and runs no code: "{{name}}" is replaced by a
// field of the receipt, everything else is copied as written.
//
//	{{receipt_id}}       the receipt id (a UUIDv7)
//	{{idempotency_key}}  the idempotency key the destination deduplicates on
//	{{event_type}}       the event type ("" when the connection has none)
//	{{connection}}       the connection's name
//	{{connection_type}}  the connection's type (github, stripe, …)
//	{{nonce}}            the provider's delivery id, when it sent one
//	{{received_at}}      when hookgate accepted it, RFC 3339 in UTC
//	{{header:Name}}      a header of the delivery as stored (credential headers are redacted)
//	{{body:path}}        a scalar field of the body ("data.object.id"), as event_type reads it
//
// A value never carries control characters (each becomes a space, so a
// header cannot be split and an environment variable cannot be cut short)
// and is cut at MaxLen bytes, so a large body field cannot blow up a header
// or an argument list.
package placeholder

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// MaxLen bounds an expanded value, in bytes.
const MaxLen = 8 << 10

// Names lists the plain placeholders, for messages.
var names = []string{"receipt_id", "idempotency_key", "event_type", "connection", "connection_type", "nonce", "received_at"}

// Template is a parsed string with placeholders. The zero value expands to "".
type Template struct {
	parts    []part
	needBody bool
}

// part is literal text (field == "") or one placeholder.
type part struct {
	text  string // the literal, or the header name / body path
	field string // "", a plain name, "header" or "body"
}

// Parse reads s. Every "{{" opens a placeholder that must close with "}}"
// and name a known field; anything else is an error, so a typo is caught
// when the configuration loads rather than sent as literal text.
func Parse(s string) (*Template, error) {
	t := &Template{}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("%q: {{ without a closing }}", s)
		}
		p, err := parsePlaceholder(strings.TrimSpace(rest[i+2 : i+2+j]))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if p.field == "body" {
			t.needBody = true
		}
		t.parts = append(t.parts, p)
		rest = rest[i+2+j+2:]
	}
	return t, nil
}

func parsePlaceholder(name string) (part, error) {
	if kind, arg, ok := strings.Cut(name, ":"); ok {
		if (kind == "header" || kind == "body") && arg != "" {
			return part{field: kind, text: arg}, nil
		}
		return part{}, fmt.Errorf("placeholder {{%s}}: use header:Name or body:path", name)
	}
	for _, n := range names {
		if n == name {
			return part{field: name}, nil
		}
	}
	return part{}, fmt.Errorf("unknown placeholder {{%s}} (known: %s, header:Name, body:path)", name, strings.Join(names, ", "))
}

// Static reports whether t has no placeholder, and its text.
func (t *Template) Static() (string, bool) {
	switch len(t.parts) {
	case 0:
		return "", true
	case 1:
		if t.parts[0].field == "" {
			return t.parts[0].text, true
		}
	}
	return "", false
}

// Fields is what templates read from one receipt. It parses the body at
// most once, and only when a template asks for a body field.
type Fields struct {
	r      *hookgate.Receipt
	env    rules.Envelope
	parsed bool
}

// For returns the fields of r.
func For(r *hookgate.Receipt) *Fields { return &Fields{r: r} }

// Expand fills t from f.
func (t *Template) Expand(f *Fields) string {
	if s, ok := t.Static(); ok {
		return s
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.text)
			continue
		}
		b.WriteString(Clean(f.value(p)))
		if b.Len() >= MaxLen {
			break
		}
	}
	return cut(b.String(), MaxLen)
}

func (f *Fields) value(p part) string {
	r := f.r
	switch p.field {
	case "receipt_id":
		return r.ID
	case "idempotency_key":
		return r.IdempotencyKey
	case "event_type":
		return r.EventType
	case "connection":
		return r.Connection
	case "connection_type":
		return r.ConnectionType
	case "nonce":
		return r.Nonce
	case "received_at":
		if r.ReceivedAt.IsZero() {
			return ""
		}
		return r.ReceivedAt.UTC().Format(time.RFC3339Nano)
	case "header":
		return r.Headers.Get(p.text)
	case "body":
		v, _ := f.Envelope().Field(p.text)
		return v
	}
	return ""
}

// Envelope is the receipt's body read as event_type reads it (a JSON object
// or form fields); a body that is neither has no fields.
func (f *Fields) Envelope() rules.Envelope {
	if !f.parsed {
		f.parsed = true
		f.env, _ = rules.ParseEnvelope(f.r.Headers.Get("Content-Type"), f.r.Body)
	}
	return f.env
}

// Clean returns v with each control character replaced by a space, so it
// can go into a header (HTTP, NATS, Kafka) or an environment variable
// without splitting or cutting it. It allocates only when it changes v.
func Clean(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, v)
		}
	}
	return v
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
