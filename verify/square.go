package verify

import (
	"net/http"
	"unicode/utf16"
)

// squareScheme is Square: x-square-hmacsha256-signature is base64
// HMAC-SHA256(signature key, notification URL + body), where the URL is the
// subscription's notification URL exactly as registered (Request.URL, the
// connection's public URL) and the key is used as the string Square shows,
// not decoded.
// https://developer.squareup.com/docs/webhooks/step3validate
type squareScheme struct{}

const (
	squareSignature = "x-square-hmacsha256-signature"
	squareRecipe    = "HMAC-SHA256(key, url+body) as base64"
)

var _ = scheme("square", squareScheme{})

func (squareScheme) NeedsSecret() bool          { return true }
func (squareScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (squareScheme) Verify(cfg *Config, req *Request) (Result, error) {
	return verifyURLSigned(cfg, req, "square", headerOr(cfg.SignatureHeader, squareSignature), squareRecipe, b64SHA256, squareContent)
}

func (squareScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	return signURLSigned(req, secret, headerOr(cfg.SignatureHeader, squareSignature), b64SHA256, squareContent)
}

func squareContent(req *Request) []variant {
	return []variant{{[]byte(req.URL.String()), req.Body}}
}

// trelloScheme is Trello: X-Trello-Webhook is base64 HMAC-SHA1(app secret,
// body + callback URL), with the callbackURL given when the webhook was
// created (Request.URL). The key is the application's OAuth secret, not a
// token.
//
// Trello's docs warn that its Node signer hashes the text as a "binary"
// string, not UTF-8: each UTF-16 code unit is cut to its low 8 bits (an
// en dash, U+2013, is hashed as the byte 0x13). Content with non-ASCII text
// is therefore tried in that form as well as in UTF-8, and Sign writes that
// form; for ASCII the two are the same bytes.
// https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures
type trelloScheme struct{}

const (
	trelloSignature = "X-Trello-Webhook"
	trelloRecipe    = "HMAC-SHA1(secret, body+url) as base64 (non-ASCII also as a Node binary string)"
)

var _ = scheme("trello", trelloScheme{})

func (trelloScheme) NeedsSecret() bool          { return true }
func (trelloScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (trelloScheme) Verify(cfg *Config, req *Request) (Result, error) {
	return verifyURLSigned(cfg, req, "trello", headerOr(cfg.SignatureHeader, trelloSignature), trelloRecipe, b64SHA1, trelloContent)
}

func (trelloScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	return signURLSigned(req, secret, headerOr(cfg.SignatureHeader, trelloSignature), b64SHA1, trelloContent)
}

// trelloContent lists the Node binary form first (what Trello sends) and,
// when it differs, the UTF-8 bytes.
func trelloContent(req *Request) []variant {
	u := []byte(req.URL.String())
	body, bodyChanged := nodeBinary(req.Body)
	callback, urlChanged := nodeBinary(u)
	if !bodyChanged && !urlChanged {
		return []variant{{req.Body, u}}
	}
	return []variant{{body, callback}, {req.Body, u}}
}

// nodeBinary is text as Node's "binary" (latin1) encoding writes a string:
// the UTF-8 is decoded (invalid bytes become U+FFFD, as in Node) and every
// UTF-16 code unit is cut to its low byte. changed is false for ASCII,
// which the encoding leaves as it is.
func nodeBinary(b []byte) (out []byte, changed bool) {
	for _, c := range b {
		if c >= 0x80 {
			changed = true
			break
		}
	}
	if !changed {
		return b, false
	}
	units := utf16.Encode([]rune(string(b)))
	out = make([]byte, len(units))
	for i, u := range units {
		out[i] = byte(u)
	}
	return out, true
}

// verifyURLSigned verifies a scheme whose signed content includes the public
// URL; content lists the accepted forms of the signed content.
func verifyURLSigned(cfg *Config, req *Request, name, header, recipe string, m mac, content func(*Request) []variant) (Result, error) {
	tr := Trace{Scheme: name, Header: header, Recipe: recipe}
	vals := req.Header.Values(header)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	r := m.collect(vals, 0, &tr)
	if !needURL(req, &tr) {
		return fail(ReasonSignatureMismatch, tr)
	}
	i, reason := m.match(cfg, r, &tr, nil, content(req)...)
	if i < 0 {
		return fail(reason, tr)
	}
	return done(cfg, i, tr), nil
}

// signURLSigned signs the first form content lists.
func signURLSigned(req *Request, secret Secret, header string, m mac, content func(*Request) []variant) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	if req.URL == nil {
		return errNoURL
	}
	setHeader(req, header, m.encode(m.sum([]byte(secret.Value), content(req)[0]...)))
	return nil
}

func init() {
	for _, p := range []Preset{
		{
			Type: "square", Auth: "square",
			SignatureHeader: squareSignature,
			NonceBody:       "event_id",
			EventType:       "body:type",
			Doc:             "https://developer.squareup.com/docs/webhooks/step3validate",
		},
		{
			// Trello checks the callback URL with a HEAD request when the
			// webhook is created.
			Type: "trello", Auth: "trello",
			SignatureHeader:  trelloSignature,
			NonceBody:        "action.id",
			EventType:        "body:action.type",
			Handshake:        trelloHandshake,
			HandshakeMethods: []string{http.MethodHead},
			Doc:              "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/",
		},
	} {
		registerPreset(p)
	}
}
