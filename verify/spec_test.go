package verify

import (
	"strings"
	"testing"
)

// specPresets is the list of SPEC §3.2 ("at least"): every name must be a
// registered preset with a documentation link.
const specPresets = `github stripe slack shopify linear intercom docusign incidentio svix standard
datadog google-calendar cloudflare-pages qovery gitlab bitbucket twilio zendesk mailgun sendgrid
discord pagerduty paddle square twitch typeform hubspot meta telegram trello zoom vercel asana
sentry postmark clerk resend mux razorpay calendly dropbox microsoft-graph okta`

func TestSpecPresetsRegistered(t *testing.T) {
	for _, typ := range strings.Fields(specPresets) {
		p, ok := LookupPreset(typ)
		if !ok {
			t.Errorf("SPEC §3.2 preset %q is not registered", typ)
			continue
		}
		if !strings.HasPrefix(p.Doc, "https://") {
			t.Errorf("preset %q cites no documentation (Doc = %q)", typ, p.Doc)
		}
		if _, ok := schemes[p.Auth]; !ok {
			t.Errorf("preset %q uses unknown auth %q", typ, p.Auth)
		}
	}
}

// TestSpecHandshakes: the handshakes of SPEC §3.3 are wired to their presets.
func TestSpecHandshakes(t *testing.T) {
	for _, typ := range strings.Fields("slack meta zoom asana microsoft-graph dropbox okta twitch") {
		if p, _ := LookupPreset(typ); p.Handshake == nil {
			t.Errorf("preset %q has no handshake (SPEC §3.3)", typ)
		}
	}
}
