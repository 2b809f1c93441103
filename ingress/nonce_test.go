package ingress

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/rules"
)

// TestNonceSources checks the order of SPEC §2's nonce sources: the
// connection's own nonce_header, then the replay token the scheme signs
// (verify.Result.Nonce), then the preset's header, the body's event id, and
// the body checksum.
func TestNonceSources(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Delivery": {"from-header"}}
	body := []byte(`{"id":"from-body"}`)
	env := rules.JSONEnvelope(body)
	tests := []struct {
		name   string
		ep     Endpoint
		h      http.Header
		signed string
		want   string
	}{
		{"explicit header wins over the signed token", Endpoint{NonceHeader: "X-Delivery", NonceExplicit: true}, h, "signed", "from-header"},
		{"signed token wins over the preset's header", Endpoint{NonceHeader: "X-Delivery"}, h, "signed", "signed"},
		{"signed token when the explicit header is absent", Endpoint{NonceHeader: "X-Other", NonceExplicit: true}, h, "signed", "signed"},
		{"preset header without a signed token", Endpoint{NonceHeader: "X-Delivery", NonceBody: "id"}, h, "", "from-header"},
		{"signed token wins over the body's id", Endpoint{NonceBody: "id"}, h, "signed", "signed"},
		{"body id", Endpoint{NonceBody: "id"}, nil, "", "from-body"},
		{"checksum", Endpoint{}, nil, "", "sha256:"},
	}
	for _, tt := range tests {
		got := nonce(&tt.ep, tt.h, env, body, tt.signed)
		if got != tt.want && !(strings.HasSuffix(tt.want, ":") && strings.HasPrefix(got, tt.want)) {
			t.Errorf("%s: nonce = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRedactSecret(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Hook-Secret": {"s3cret"}, "X-Other": {"fine"}, "X-Embed": {"k=s3cret;"}}
	got := redactSecret(h, "s3cret")
	if got.Get("X-Hook-Secret") != redacted || got.Get("X-Embed") != redacted || got.Get("X-Other") != "fine" {
		t.Fatalf("redacted headers = %v", got)
	}
	if b := redactBody([]byte(`{"secret":"s3cret"}`), "s3cret"); strings.Contains(string(b), "s3cret") {
		t.Fatalf("redacted body = %s", b)
	}
}
