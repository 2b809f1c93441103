package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// twilioScheme is Twilio's X-Twilio-Signature: base64 HMAC-SHA1 keyed with
// the account's auth token over the URL Twilio called (the connection's
// public URL, query string included) followed, for
// application/x-www-form-urlencoded POSTs, by every POST parameter sorted by
// name, each written as name+value with no delimiter (several values of one
// name in sorted order). Parameters are the decoded values, so Twilio's
// signature survives re-ordering of the body but not a changed value.
// https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio
//
// JSON bodies are not parameters: Twilio appends bodySHA256=<hex SHA-256 of
// the raw body> to the URL, signs only the URL, and the receiver checks the
// body hash separately. A request whose URL carries bodySHA256 is verified
// that way.
// https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-requests-with-a-json-body
//
// Twilio is not consistent about the port in the URL it signs: its own SDK
// validators accept the signature over the URL without any port and over
// the URL with the scheme's default port (:443 / :80) added, so both are
// tried here. https://github.com/twilio/twilio-python/blob/main/twilio/request_validator.py
//
// Several secrets let the primary and the secondary auth token be active
// while a token is being rotated.
type twilioScheme struct{}

const (
	twilioSignature = "X-Twilio-Signature"
	twilioBodyHash  = "bodySHA256"
	twilioRecipe    = "HMAC-SHA1(auth token, url + sorted name+value form params) as base64; JSON: url with bodySHA256=hex(SHA-256(body))"
)

var _ = scheme("twilio", twilioScheme{})

func (twilioScheme) NeedsSecret() bool          { return true }
func (twilioScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (twilioScheme) Verify(cfg *Config, req *Request) (Result, error) {
	name := headerOr(cfg.SignatureHeader, twilioSignature)
	tr := Trace{Scheme: "twilio", Header: name, Recipe: twilioRecipe}
	vals := req.Header.Values(name)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	r := b64SHA1.collect(vals, 0, &tr)
	if !needURL(req, &tr) {
		return fail(ReasonSignatureMismatch, tr)
	}
	bodyHash, jsonBody := twilioBodyHashParam(req.URL)
	var params []byte
	if !jsonBody {
		if isJSONContent(req.Header) {
			tr.Note = joinNote(tr.Note, "JSON body but the URL has no bodySHA256 parameter")
			return fail(ReasonSignatureMismatch, tr)
		}
		var err error
		if params, err = twilioParams(req.Body); err != nil {
			tr.Note = joinNote(tr.Note, "body is not application/x-www-form-urlencoded")
			return fail(ReasonSignatureMismatch, tr)
		}
	}
	urls := twilioURLVariants(req.URL)
	variants := make([]variant, len(urls))
	for i, u := range urls {
		variants[i] = variant{[]byte(u), params}
	}
	i, reason := b64SHA1.match(cfg, r, &tr, nil, variants...)
	if i < 0 {
		return fail(reason, tr)
	}
	if jsonBody {
		// The signature covers the URL only; the body is bound to it
		// through the hash.
		sum := sha256.Sum256(req.Body)
		want, err := hex.DecodeString(bodyHash)
		if err != nil || !hmac.Equal(want, sum[:]) {
			tr.Note = joinNote(tr.Note, "bodySHA256 in the URL does not match the body")
			return fail(ReasonSignatureMismatch, tr)
		}
	}
	return done(cfg, i, tr), nil
}

// Sign writes what Twilio sends: for a JSON body (Content-Type
// application/json, or no Content-Type and a JSON body) req.URL is replaced
// by a copy carrying bodySHA256 and only the URL is signed; otherwise the
// body's form parameters are.
func (twilioScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	if req.URL == nil {
		return errNoURL
	}
	var params []byte
	if isJSONContent(req.Header) || (req.Header.Get("Content-Type") == "" && len(req.Body) > 0 && json.Valid(req.Body)) {
		sum := sha256.Sum256(req.Body)
		u := *req.URL
		u.RawQuery = withoutQueryParam(u.RawQuery, twilioBodyHash)
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += twilioBodyHash + "=" + hex.EncodeToString(sum[:])
		req.URL = &u
	} else {
		var err error
		if params, err = twilioParams(req.Body); err != nil {
			return errors.New("sign: twilio body is neither JSON nor form-encoded")
		}
	}
	sum := b64SHA1.sum([]byte(secret.Value), []byte(req.URL.String()), params)
	setHeader(req, headerOr(cfg.SignatureHeader, twilioSignature), b64SHA1.encode(sum))
	return nil
}

// twilioBodyHashParam returns the bodySHA256 query value and whether the URL
// carries one.
func twilioBodyHashParam(u *url.URL) (string, bool) {
	q, _ := url.ParseQuery(u.RawQuery) // a malformed pair elsewhere must not hide it
	if !q.Has(twilioBodyHash) {
		return "", false
	}
	return q.Get(twilioBodyHash), true
}

// twilioParams is the parameter part of the signed content: every form
// parameter sorted by name, values of one name sorted, as name+value.
func twilioParams(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, v...)
		}
	}
	return b, nil
}

// twilioURLVariants is the URL as configured and, as Twilio's SDK
// validators do, the same URL with its port removed (when it has one) or
// with the scheme's default port added (when it has none).
func twilioURLVariants(u *url.URL) []string {
	other := *u
	if p := u.Port(); p != "" {
		other.Host = strings.TrimSuffix(u.Host, ":"+p)
	} else {
		port := "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
		other.Host = u.Host + ":" + port
	}
	return []string{u.String(), other.String()}
}

// withoutQueryParam drops every name=… pair from a raw query, keeping the
// others byte for byte.
func withoutQueryParam(raw, name string) string {
	if raw == "" {
		return raw
	}
	var kept []string
	for p := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(p, "=")
		if k != name {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}

// isJSONContent reports a Content-Type of application/json or +json.
func isJSONContent(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func init() {
	registerPreset(Preset{
		// Twilio retries with the same I-Twilio-Idempotency-Token.
		Type: "twilio", Auth: "twilio",
		SignatureHeader: twilioSignature,
		NonceHeader:     "I-Twilio-Idempotency-Token",
		Form:            true,
		Doc:             "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
	})
}
