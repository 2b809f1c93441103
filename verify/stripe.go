package verify

import (
	"strconv"
	"strings"
	"time"
)

// signedListScheme is Stripe's Stripe-Signature: "t=<unix>,v1=<hex>,v1=<hex>".
// The signed content is "{t}.{body}", HMAC-SHA256 with the endpoint secret
// used as-is (the whsec_ string is the key, not base64-decoded). Several v1
// entries appear while a secret is being rolled: every one is tried, and
// v0 (test-mode) and malformed entries are skipped. The tolerance is the
// replay window (Stripe's libraries default to 300 s).
// https://docs.stripe.com/webhooks#verify-manually
//
// Stripe's own verifier (stripe-go webhook.parseSignatureHeader) likewise
// ignores undecodable v1 entries and tries every remaining one.
//
// Mux (Mux-Signature) and Calendly (Calendly-Webhook-Signature) send the
// same format under another header name; cfg.SignatureHeader selects it.
// Each preset's replay window is the provider's own tolerance (Stripe 300 s,
// Calendly 180 s, Paddle 5 s; Mux documents none).
// https://www.mux.com/docs/core/verify-webhook-signatures
// https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures
type signedListScheme struct {
	name, header  string
	sep           byte   // between entries: ',' Stripe, ';' Paddle
	tsKey, sigKey string // "t"/"v1" Stripe, "ts"/"h1" Paddle
	joiner        byte   // between timestamp and body in the signed content
	recipe        string
}

var (
	_ = scheme("stripe", signedListScheme{name: "stripe", header: "Stripe-Signature", sep: ',', tsKey: "t", sigKey: "v1",
		joiner: '.', recipe: "HMAC-SHA256(secret, t.body) as hex, header t=…,v1=…"})
	// Paddle Billing's Paddle-Signature: "ts=<unix>;h1=<hex>", signed
	// content "{ts}:{body}", HMAC-SHA256 with the notification destination's
	// secret key as-is. Several h1 entries appear during secret rotation;
	// each is tried. Paddle's SDKs allow only 5 s of skew by default, the
	// preset's replay window.
	// https://developer.paddle.com/webhooks/signature-verification
	_ = scheme("paddle", signedListScheme{name: "paddle", header: "Paddle-Signature", sep: ';', tsKey: "ts", sigKey: "h1",
		joiner: ':', recipe: "HMAC-SHA256(secret, ts:body) as hex, header ts=…;h1=…"})
)

func (signedListScheme) NeedsSecret() bool          { return true }
func (signedListScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (s signedListScheme) Verify(cfg *Config, req *Request) (Result, error) {
	name := headerOr(cfg.SignatureHeader, s.header)
	tr := Trace{Scheme: s.name, Header: name, Recipe: s.recipe}
	vals := req.Header.Values(name)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	// A proxy may split the list over several header lines; the elements
	// are the same once joined.
	ts, sigs, malformed := parseSignedList(strings.Join(vals, string(s.sep)), s.sep, s.tsKey, s.sigKey)
	if reason := signedListIncomplete(ts, sigs, s.tsKey, &tr); reason != "" {
		return fail(reason, tr)
	}
	r := hmacSHA256.collect(sigs, malformed, &tr)
	i, reason := hmacSHA256.match(cfg, r, &tr, nil, variant{[]byte(ts), []byte{s.joiner}, req.Body})
	if i < 0 {
		return fail(reason, tr)
	}
	t, reason := checkTimestamp(cfg, req, ts, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	res.Timestamp = t
	return res, nil
}

// signedListIncomplete explains a "t=…,v1=…" header without a timestamp:
// one with no usable element at all is malformed rather than merely
// missing its timestamp.
func signedListIncomplete(ts string, sigs []string, tsKey string, tr *Trace) string {
	switch {
	case ts != "":
		return ""
	case len(sigs) == 0:
		tr.Note = "no " + tsKey + "= timestamp and no signature in the header"
		return ReasonSignatureMalformed
	}
	tr.Note = "no " + tsKey + "= timestamp in the header"
	return ReasonTimestampMissing
}

func (s signedListScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	sum := hmacSHA256.sum([]byte(secret.Value), []byte(ts), []byte{s.joiner}, req.Body)
	setHeader(req, headerOr(cfg.SignatureHeader, s.header),
		s.tsKey+"="+ts+string(s.sep)+s.sigKey+"="+hmacSHA256.encode(sum))
	return nil
}

func init() {
	for _, p := range []Preset{
		{
			// stripe-go webhook.DefaultTolerance: 300 s.
			Type: "stripe", Auth: "stripe",
			SignatureHeader: "Stripe-Signature",
			ReplayWindow:    5 * time.Minute,
			NonceBody:       "id",
			EventType:       "body:type",
			Doc:             "https://docs.stripe.com/webhooks#verify-manually",
		},
		{
			// Mux-Signature: t=…,v1=…, same recipe as Stripe.
			// Mux's docs leave the tolerance to the receiver: the
			// server's replay window applies.
			Type: "mux", Auth: "stripe",
			SignatureHeader: "Mux-Signature",
			NonceBody:       "id",
			EventType:       "body:type",
			Doc:             "https://www.mux.com/docs/core/verify-webhook-signatures",
		},
		{
			// Calendly-Webhook-Signature: t=…,v1=…, same recipe as Stripe,
			// keyed with the webhook signing key. Payloads carry no event id.
			// Calendly's verification sample rejects a timestamp older than
			// three minutes.
			Type: "calendly", Auth: "stripe",
			SignatureHeader: "Calendly-Webhook-Signature",
			ReplayWindow:    3 * time.Minute,
			EventType:       "body:event",
			Doc:             "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
		},
		{
			// Paddle's SDKs reject a timestamp more than 5 s old
			// (paddle-node-sdk WebhooksValidator.MAX_VALID_TIME_DIFFERENCE).
			Type: "paddle", Auth: "paddle",
			SignatureHeader: "Paddle-Signature",
			ReplayWindow:    5 * time.Second,
			NonceBody:       "event_id",
			EventType:       "body:event_type",
			Doc:             "https://developer.paddle.com/webhooks/signature-verification",
		},
	} {
		registerPreset(p)
	}
}
