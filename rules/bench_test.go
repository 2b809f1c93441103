package rules_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/rules"
)

// BenchmarkParseEnvelope is the envelope check of every accepted delivery:
// a 2 KiB GitHub-style JSON object, and a form-encoded body (Slack, Twilio).
func BenchmarkParseEnvelope(b *testing.B) {
	jsonBody := []byte(`{"action":"opened","number":7,"pull_request":{"id":42,"title":"Fix","user":{"login":"octo"}},"pad":"` +
		strings.Repeat("x", 2048-110) + `"}`)
	form := []byte(url.Values{"payload": {string(jsonBody[:512])}, "token": {"t"}, "team_id": {"T1"}}.Encode())
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"json-2KiB", "application/json", jsonBody},
		{"form", "application/x-www-form-urlencoded", form},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rules.ParseEnvelope(c.ct, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
