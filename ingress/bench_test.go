package ingress_test

import (
	"strings"
	"testing"

	"github.com/hookgate/hookgate/ingress"
)

func BenchmarkIdempotencyKey(b *testing.B) {
	b.Run("short", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ingress.IdempotencyKey("primary", "pull_request", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		}
	})
	// A key over MaxKeyLength is hashed.
	long := strings.Repeat("n", 300)
	b.Run("hashed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ingress.IdempotencyKey("primary", "pull_request", long)
		}
	})
}
