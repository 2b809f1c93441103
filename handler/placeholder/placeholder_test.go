package placeholder

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

func receipt() *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-000000000001", ConnectionType: "stripe", Connection: "billing",
		EventType: "invoice.paid", Nonce: "evt_1", IdempotencyKey: "billing:invoice.paid:evt_1",
		ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Headers:    http.Header{"Content-Type": {"application/json"}, "X-Shop": {"eu-1"}},
		Body:       []byte(`{"type":"invoice.paid","data":{"object":{"id":"in_42","amount":1200,"note":"a\r\nb"}}}`),
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"{{receipt_id}}", "01890000-0000-7000-8000-000000000001"},
		{"key={{ idempotency_key }}", "key=billing:invoice.paid:evt_1"},
		{"{{connection_type}}/{{connection}}/{{event_type}}/{{nonce}}", "stripe/billing/invoice.paid/evt_1"},
		{"{{received_at}}", "2026-01-02T03:04:05Z"},
		{"shop {{header:X-Shop}} {{header:x-shop}}", "shop eu-1 eu-1"},
		{"{{header:X-Missing}}", ""},
		{"{{body:data.object.id}}:{{body:data.object.amount}}", "in_42:1200"},
		{"{{body:data.object}}", ""}, // objects are not values
		{"{single} braces", "{single} braces"},
		// A value cannot split a header or cut an environment variable.
		{"note {{body:data.object.note}}", "note a  b"},
	}
	for _, tt := range tests {
		tmpl, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := tmpl.Expand(For(receipt())); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"{{receipt}}":         "unknown placeholder {{receipt}}",
		"{{event_type":        "without a closing",
		"{{header:}}":         "use header:Name or body:path",
		"{{env:HOME}}":        "use header:Name or body:path",
		"{{ .Body }}":         "unknown placeholder",
		"a {{}} b":            "unknown placeholder",
		"{{exec:rm -rf /}}":   "use header:Name",
		"{{receipt_id}} {{x}": "without a closing",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// TestExpandIsBounded: a huge body field is cut at MaxLen, on a UTF-8
// boundary.
func TestExpandIsBounded(t *testing.T) {
	t.Parallel()
	r := receipt()
	r.Body = []byte(`{"big":"` + strings.Repeat("é", MaxLen) + `"}`)
	tmpl, _ := Parse("x{{body:big}}{{body:big}}")
	got := tmpl.Expand(For(r))
	if len(got) > MaxLen || len(got) < MaxLen-1 || !strings.HasSuffix(got, "é") {
		t.Fatalf("expanded %d bytes, ends %q", len(got), got[len(got)-4:])
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	if s, ok := mustParse(t, "Bearer abc").Static(); !ok || s != "Bearer abc" {
		t.Fatalf("Static = %q, %v", s, ok)
	}
	if _, ok := mustParse(t, "{{event_type}}").Static(); ok {
		t.Fatal("a placeholder is not static")
	}
}

func mustParse(t *testing.T, s string) *Template {
	t.Helper()
	tmpl, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func BenchmarkExpand(b *testing.B) {
	tmpl, _ := Parse("hookgate {{connection}}/{{event_type}} {{body:data.object.id}}")
	r := receipt()
	b.ReportAllocs()
	for b.Loop() {
		_ = tmpl.Expand(For(r))
	}
}

// FuzzTemplate: any configured string either fails to parse or expands,
// from any receipt, to a bounded value without control characters.
func FuzzTemplate(f *testing.F) {
	f.Add("{{event_type}}", "x\r\ny", `{"a":"b"}`)
	f.Add("a {{body:a}} {{header:X}}", "v", `{"a":"\u0000"}`)
	f.Add("{{", "", "")
	f.Fuzz(func(t *testing.T, tmpl, header, body string) {
		parsed, err := Parse(tmpl)
		if err != nil {
			return
		}
		r := receipt()
		r.Headers.Set("X", header)
		r.Body = []byte(body)
		out := parsed.Expand(For(r))
		if len(out) > MaxLen && len(out) > len(tmpl) {
			t.Fatalf("expanded to %d bytes", len(out))
		}
		for _, p := range parsed.parts {
			if p.field == "" && strings.ContainsAny(p.text, "\r\n\x00") {
				return // the literal itself carries them
			}
		}
		if strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("control character in %q", out)
		}
	})
}
