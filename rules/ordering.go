package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// OrderingSource turns a route's ordering_key into a source spec for
// Extract. It takes the SPEC's dotted form, "body.data.object.id", and the
// source form of event_type and nonce, "body:data.object.id" or
// "header:Name"; parts may be joined by "+" ("body.customer+body.invoice").
func OrderingSource(spec string) (string, error) {
	if spec == "" {
		return "", nil
	}
	parts := strings.Split(spec, "+")
	for i, p := range parts {
		if rest, ok := strings.CutPrefix(p, "body."); ok {
			parts[i] = "body:" + rest
		}
	}
	out := strings.Join(parts, "+")
	if err := ValidateSource(out); err != nil {
		return "", fmt.Errorf("ordering_key %q: each part must be body.path, body:path or header:Name", spec)
	}
	return out, nil
}

// MaxOrderingKey bounds a stored ordering key. A longer value is stored as
// "sha256:" and the hex of its SHA-256, so that a large field costs neither
// the row nor the index more than that, and equal values still share a key.
const MaxOrderingKey = 128

// OrderingKey reads the ordering key of a delivery from source (see
// OrderingSource): empty when the fields are missing, and then the receipt
// is not ordered.
func OrderingKey(source string, h http.Header, env Envelope) string {
	v := Extract(source, h, env)
	if len(v) > MaxOrderingKey {
		sum := sha256.Sum256([]byte(v))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return v
}
