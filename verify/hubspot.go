package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// hubspotScheme is HubSpot's request signature, in whichever version the
// request carries; v3 is preferred when its header is present and then is
// the only one checked.
// https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
//
//   - v3: X-HubSpot-Signature-v3 is base64 HMAC-SHA256(client secret,
//     method + URI + body + timestamp), where the timestamp is the
//     X-HubSpot-Request-Timestamp header in MILLISECONDS and the URI is the
//     full public URL. HubSpot says to reject requests older than five
//     minutes, and its SDKs (Python, Ruby) accept only an age under 300 s:
//     the age must be under the replay window (default 300 s), both ways,
//     so a timestamp exactly 300 s old is refused.
//     HubSpot's docs tell receivers to decode a fixed set of percent-encoded
//     characters in the URI before signing (hubspotDecoded), so the URL is
//     tried as configured and so decoded.
//   - v2 (X-HubSpot-Signature-Version: v2): X-HubSpot-Signature is hex
//     SHA-256(client secret + method + URI + body). Plain SHA-256 of the
//     concatenation, not an HMAC. Workflow webhooks and CRM cards.
//   - v1 (X-HubSpot-Signature-Version: v1): hex SHA-256(client secret +
//     body), also not an HMAC. Webhooks API subscriptions.
//
// v1 and v2 sign no timestamp: a captured request stays valid, so replay
// protection for them is only the receipt's idempotency key.
type hubspotScheme struct{}

const (
	hubspotV3        = "X-HubSpot-Signature-v3"
	hubspotTimestamp = "X-HubSpot-Request-Timestamp"
	hubspotLegacy    = "X-HubSpot-Signature"
	hubspotVersion   = "X-HubSpot-Signature-Version"
	hubspotRecipeV3  = "HMAC-SHA256(client secret, method+uri+body+timestamp ms) as base64"
	hubspotRecipeV2  = "SHA-256(client secret+method+uri+body) as hex (not HMAC)"
	hubspotRecipeV1  = "SHA-256(client secret+body) as hex (not HMAC)"
	hubspotWindow    = 5 * time.Minute
)

var _ = scheme("hubspot", hubspotScheme{})

func (hubspotScheme) NeedsSecret() bool          { return true }
func (hubspotScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (s hubspotScheme) Verify(cfg *Config, req *Request) (Result, error) {
	v3 := headerOr(cfg.SignatureHeader, hubspotV3)
	if vals := req.Header.Values(v3); len(vals) > 0 {
		return s.verifyV3(cfg, req, v3, vals)
	}
	if vals := req.Header.Values(hubspotLegacy); len(vals) > 0 {
		return s.verifyLegacy(cfg, req, vals)
	}
	return fail(ReasonSignatureMissing, Trace{Scheme: "hubspot", Header: v3 + ", " + hubspotLegacy, Recipe: hubspotRecipeV3})
}

func (hubspotScheme) verifyV3(cfg *Config, req *Request, header string, vals []string) (Result, error) {
	tsHeader := headerOr(cfg.TimestampHeader, hubspotTimestamp)
	tr := Trace{Scheme: "hubspot", Header: header, Recipe: hubspotRecipeV3}
	ts := strings.TrimSpace(req.Header.Get(tsHeader))
	if ts == "" {
		tr.Note = tsHeader + " header missing"
		return fail(ReasonTimestampMissing, tr)
	}
	r := b64SHA256.collect(vals, 0, &tr)
	if !needURL(req, &tr) {
		return fail(ReasonSignatureMismatch, tr)
	}
	method := []byte(req.Method)
	var variants []variant
	for _, u := range hubspotURIs(req.URL.String()) {
		variants = append(variants, variant{method, []byte(u), req.Body, []byte(ts)})
	}
	i, reason := b64SHA256.match(cfg, r, &tr, nil, variants...)
	if i < 0 {
		return fail(reason, tr)
	}
	t, reason := parseUnixMillis(ts)
	if reason == "" {
		reason = checkWindowUnder(cfg, req, t, hubspotWindow, &tr)
	}
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	res.Timestamp = t
	return res, nil
}

func (hubspotScheme) verifyLegacy(cfg *Config, req *Request, vals []string) (Result, error) {
	tr := Trace{Scheme: "hubspot", Header: hubspotLegacy}
	version := strings.ToLower(strings.TrimSpace(req.Header.Get(hubspotVersion)))
	var v1, v2 bool
	switch version {
	case "v1":
		v1, tr.Recipe = true, hubspotRecipeV1
	case "v2":
		v2, tr.Recipe = true, hubspotRecipeV2
	case "":
		// The version header has always accompanied the signature; without
		// it both legacy recipes are tried (each is keyed by the secret).
		v1, v2 = true, true
		tr.Recipe = hubspotRecipeV1 + "; or " + hubspotRecipeV2
		tr.Note = hubspotVersion + " header missing: tried v1 and v2"
	default:
		tr.Note = "unknown " + hubspotVersion + " " + strconv.Quote(prefix8(version))
		return fail(ReasonSignatureMalformed, tr)
	}
	r := hmacSHA256.collect(vals, 0, &tr)
	var variants []variant
	if v1 {
		variants = append(variants, variant{req.Body})
	}
	if v2 {
		if needURL(req, &tr) {
			for _, u := range hubspotURIs(req.URL.String()) {
				variants = append(variants, variant{[]byte(req.Method), []byte(u), req.Body})
			}
		} else if !v1 {
			return fail(ReasonSignatureMismatch, tr)
		}
	}
	i, reason := matchPlainSHA256(cfg, r, &tr, variants)
	if i < 0 {
		return fail(reason, tr)
	}
	return done(cfg, i, tr), nil
}

// matchPlainSHA256 is mac.match for HubSpot's legacy signatures, which hash
// secret+content with plain SHA-256 instead of keying an HMAC. Comparisons
// are constant-time.
func matchPlainSHA256(cfg *Config, r received, tr *Trace, variants []variant) (int, string) {
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	for i, sec := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(sec, i))
		if sec.Value == "" {
			continue
		}
		for j, v := range variants {
			h := sha256.New()
			h.Write([]byte(sec.Value))
			for _, p := range v {
				h.Write(p)
			}
			sum := h.Sum(nil)
			if i == 0 && j == 0 {
				tr.Expected = prefix8(hex.EncodeToString(sum))
			}
			for _, d := range r.sigs {
				if hmac.Equal(d, sum) {
					return i, ""
				}
			}
		}
	}
	if len(r.sigs) == 0 {
		return -1, ReasonSignatureMalformed
	}
	return -1, ReasonSignatureMismatch
}

// hubspotDecoded are the percent-encodings HubSpot's v3 instructions say to
// decode in the request URI before signing ("Decode any URL-encoded
// characters listed in the following table"; the '?' that starts the query
// is never encoded).
var hubspotDecoded = strings.NewReplacer(
	"%3A", ":", "%3a", ":", "%2F", "/", "%2f", "/", "%3F", "?", "%3f", "?",
	"%40", "@", "%21", "!", "%24", "$", "%27", "'", "%28", "(", "%29", ")",
	"%2A", "*", "%2a", "*", "%2C", ",", "%2c", ",", "%3B", ";", "%3b", ";",
)

// hubspotURIs is the URI as configured and, when it differs, with
// HubSpot's table of characters decoded.
func hubspotURIs(u string) []string {
	if d := hubspotDecoded.Replace(u); d != u {
		return []string{u, d}
	}
	return []string{u}
}

// Sign writes the v3 signature HubSpot sends today (with its millisecond
// timestamp); v1 and v2 are accepted on receipt but never produced.
func (hubspotScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	if req.URL == nil {
		return errNoURL
	}
	ts := strconv.FormatInt(clock(req).UnixMilli(), 10)
	sum := b64SHA256.sum([]byte(secret.Value), []byte(req.Method), []byte(req.URL.String()), req.Body, []byte(ts))
	setHeader(req, headerOr(cfg.TimestampHeader, hubspotTimestamp), ts)
	setHeader(req, headerOr(cfg.SignatureHeader, hubspotV3), b64SHA256.encode(sum))
	return nil
}

func init() {
	registerPreset(Preset{
		// Webhooks API deliveries are a JSON array of events, each with its
		// own eventId and subscriptionType: no top-level id or type, so the
		// receipt falls back to body-checksum dedupe.
		Type: "hubspot", Auth: "hubspot",
		SignatureHeader: hubspotV3,
		TimestampHeader: hubspotTimestamp,
		ReplayWindow:    hubspotWindow,
		Doc:             "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests",
	})
}
