package verify

import "strings"

// pagerdutyScheme is PagerDuty webhooks v3: X-PagerDuty-Signature is a
// comma-separated list of "v1=<hex HMAC-SHA256(secret, body)>", one per
// active signing secret during rotation; every v1 entry is tried and other
// versions skipped.
// https://developer.pagerduty.com/docs/webhooks/webhook-signatures/
type pagerdutyScheme struct{}

const (
	pagerdutySignature = "X-PagerDuty-Signature"
	pagerdutyRecipe    = "HMAC-SHA256(secret, body) as hex, list of v1=…"
)

var _ = scheme("pagerduty", pagerdutyScheme{})

func (pagerdutyScheme) NeedsSecret() bool          { return true }
func (pagerdutyScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

// parsePagerDutySignatures returns the v1 values of a signature header and
// the number of entries that are not "v<n>=<value>".
func parsePagerDutySignatures(header string) (sigs []string, malformed int) {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		version, sig, ok := strings.Cut(part, "=")
		switch {
		case !ok || sig == "":
			malformed++
		case version == "v1":
			sigs = append(sigs, sig)
		}
	}
	return sigs, malformed
}

func (pagerdutyScheme) Verify(cfg *Config, req *Request) (Result, error) {
	name := headerOr(cfg.SignatureHeader, pagerdutySignature)
	tr := Trace{Scheme: "pagerduty", Header: name, Recipe: pagerdutyRecipe}
	vals := req.Header.Values(name)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	sigs, malformed := parsePagerDutySignatures(strings.Join(vals, ","))
	r := hmacSHA256.collect(sigs, malformed, &tr)
	i, reason := hmacSHA256.match(cfg, r, &tr, nil, variant{req.Body})
	if i < 0 {
		return fail(reason, tr)
	}
	return done(cfg, i, tr), nil
}

func (pagerdutyScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	setHeader(req, headerOr(cfg.SignatureHeader, pagerdutySignature), "v1="+hmacSHA256.encode(hmacSHA256.sum([]byte(secret.Value), req.Body)))
	return nil
}

func init() {
	registerPreset(Preset{
		Type: "pagerduty", Auth: "pagerduty",
		SignatureHeader: pagerdutySignature,
		NonceHeader:     "X-Webhook-Id",
		NonceBody:       "event.id",
		EventType:       "body:event.event_type",
		Doc:             "https://developer.pagerduty.com/docs/webhooks/webhook-signatures/",
	})
}
