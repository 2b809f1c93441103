package ingress

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestIdempotencyKeyClamp is SPEC §2's idempotency key: connection:event_type:nonce,
// kept as is up to 255 characters and replaced by the hex SHA-256 of the
// whole key above that, so a lookup never fails on length and distinct long
// keys stay distinct.
func TestIdempotencyKeyClamp(t *testing.T) {
	t.Parallel()
	sha := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	// "c:e:" is 4 characters, so a nonce of n-4 makes a key of n.
	nonceFor := func(n int) string { return strings.Repeat("n", n-4) }
	tests := []struct {
		name, conn, event, nonce, want string
	}{
		{"short key kept", "primary", "push", "d-1", "primary:push:d-1"},
		{"empty parts kept", "c", "", "", "c::"},
		{"255 characters kept", "c", "e", nonceFor(255), "c:e:" + nonceFor(255)},
		{"256 characters hashed", "c", "e", nonceFor(256), sha("c:e:" + nonceFor(256))},
		{"long event type hashed with the rest", "c", strings.Repeat("e", 300), "n", sha("c:" + strings.Repeat("e", 300) + ":n")},
		{"multi-byte characters count as bytes", "c", "e", strings.Repeat("é", 126), sha("c:e:" + strings.Repeat("é", 126))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := IdempotencyKey(tt.conn, tt.event, tt.nonce)
			if got != tt.want {
				t.Fatalf("IdempotencyKey = %q (%d), want %q", got, len(got), tt.want)
			}
			if len(got) > MaxKeyLength {
				t.Fatalf("key of %d characters is longer than %d", len(got), MaxKeyLength)
			}
		})
	}
	// Two long keys that share their first 255 characters stay distinct.
	long := strings.Repeat("x", 300)
	if a, b := IdempotencyKey("c", "e", long+"a"), IdempotencyKey("c", "e", long+"b"); a == b {
		t.Fatalf("distinct long keys fold to the same key %q", a)
	}
	// The same parts always give the same key (it is a lookup key).
	if a, b := IdempotencyKey("c", "e", long), IdempotencyKey("c", "e", long); a != b {
		t.Fatalf("the same long key folds to %q and %q", a, b)
	}
}
