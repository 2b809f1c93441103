package verify

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// HandshakeResponse is what to answer to a provider's endpoint-verification
// request.
type HandshakeResponse struct {
	Status int
	Header http.Header
	Body   []byte
	// LearnSecret is a secret the provider handed over in the handshake
	// (Asana's X-Hook-Secret), to store as the connection's secret.
	LearnSecret string
}

// Handshake answers a provider's handshake: handled=false means "not a
// handshake, go on with normal verification". A signed handshake is
// verified first (err is a *Failure then, with handled=true).
type Handshake func(cfg *Config, req *Request) (resp *HandshakeResponse, handled bool, err error)

// maxChallenge bounds an echoed challenge: providers send short random
// strings, and an endpoint must not become a reflector for large inputs.
const maxChallenge = 1024

func textResponse(body string) *HandshakeResponse {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	return &HandshakeResponse{Status: http.StatusOK, Header: h, Body: []byte(body)}
}

func jsonResponse(v any) *HandshakeResponse {
	b, _ := json.Marshal(v) // maps of strings: cannot fail
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return &HandshakeResponse{Status: http.StatusOK, Header: h, Body: b}
}

// bodyField reads a string field of a JSON object body at a path of plain
// keys. It is a bounded lookup, not a decode: gjson walks the object and
// skips other values without building them or recursing into them, so its
// cost is one pass over the bytes and its memory does not grow with the
// body. Handshakes use it on verified bodies only (Preset.HandshakeAfterAuth).
func bodyField(body []byte, path ...string) (string, bool) {
	if len(path) == 0 {
		return "", false
	}
	v := gjson.GetBytes(body, strings.Join(path, "."))
	if v.Type != gjson.String {
		return "", false
	}
	return v.Str, true
}

// metaHandshake answers Meta's (Facebook, Instagram, WhatsApp) subscription
// verification: GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
// is answered with the challenge when the token is the configured verify
// token (Config.VerifyToken, else any secret).
// https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
func metaHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodGet || req.URL == nil {
		return nil, false, nil
	}
	q := req.URL.Query()
	if q.Get("hub.mode") == "" && q.Get("hub.challenge") == "" {
		return nil, false, nil
	}
	tr := Trace{Scheme: "meta-handshake", Header: "hub.verify_token", Recipe: "hub.verify_token equals the verify token"}
	challenge := q.Get("hub.challenge")
	if q.Get("hub.mode") != "subscribe" || challenge == "" || len(challenge) > maxChallenge {
		tr.Note = "hub.mode must be subscribe with a hub.challenge"
		_, err := fail(ReasonSignatureMalformed, tr)
		return nil, true, err
	}
	token := q.Get("hub.verify_token")
	if token == "" {
		_, err := fail(ReasonCredentialsMissing, tr)
		return nil, true, err
	}
	if cfg.VerifyToken != "" {
		tr.SecretsTried = []string{"verify_token"}
		if equalCredential(token, cfg.VerifyToken) {
			return textResponse(challenge), true, nil
		}
	} else {
		for i, s := range cfg.Secrets {
			tr.SecretsTried = append(tr.SecretsTried, secretID(s, i))
			if s.Value != "" && equalCredential(token, s.Value) {
				return textResponse(challenge), true, nil
			}
		}
	}
	_, err := fail(ReasonCredentialsInvalid, tr)
	return nil, true, err
}

// asanaHandshake answers Asana's webhook creation: a POST carrying
// X-Hook-Secret is answered 200 echoing it; the secret signs every later
// delivery (X-Hook-Signature), so the caller stores it (LearnSecret). The
// handshake itself is unsigned.
// https://developers.asana.com/docs/webhooks-guide#the-webhook-handshake
func asanaHandshake(_ *Config, req *Request) (*HandshakeResponse, bool, error) {
	secret := req.Header.Get("X-Hook-Secret")
	if secret == "" {
		return nil, false, nil
	}
	if len(secret) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: "asana-handshake", Header: "X-Hook-Secret", Note: "X-Hook-Secret too long"})
		return nil, true, err
	}
	resp := &HandshakeResponse{Status: http.StatusOK, Header: http.Header{}, LearnSecret: secret}
	resp.Header.Set("X-Hook-Secret", secret)
	return resp, true, nil
}

// graphHandshake answers Microsoft Graph's subscription validation: a
// request with ?validationToken=… must be answered within 10 s with 200,
// Content-Type text/plain and the (URL-decoded) token as the body.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
func graphHandshake(_ *Config, req *Request) (*HandshakeResponse, bool, error) {
	return echoQuery(req, "validationToken", "graph-handshake")
}

// dropboxHandshake answers Dropbox's webhook verification: GET ?challenge=…
// echoed with Content-Type text/plain and X-Content-Type-Options: nosniff.
// https://www.dropbox.com/developers/reference/webhooks#documentation
func dropboxHandshake(_ *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodGet {
		return nil, false, nil
	}
	return echoQuery(req, "challenge", "dropbox-handshake")
}

func echoQuery(req *Request, param, name string) (*HandshakeResponse, bool, error) {
	if req.URL == nil {
		return nil, false, nil
	}
	q := req.URL.Query()
	if !q.Has(param) {
		return nil, false, nil
	}
	v := q.Get(param)
	if v == "" || len(v) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: name, Header: param, Note: param + " empty or too long"})
		return nil, true, err
	}
	return textResponse(v), true, nil
}

// oktaHandshake answers Okta's one-time event hook verification: a GET with
// X-Okta-Verification-Challenge is answered {"verification": value}. When
// the request carries the configured credential header it must match;
// echoing the challenge discloses nothing, so a request without it is
// answered too (Okta's docs do not promise the header on this request).
// https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request
func oktaHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodGet {
		return nil, false, nil
	}
	challenge := req.Header.Get("X-Okta-Verification-Challenge")
	if challenge == "" {
		return nil, false, nil
	}
	if len(challenge) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: "okta-handshake", Header: "X-Okta-Verification-Challenge", Note: "challenge too long"})
		return nil, true, err
	}
	if s, ok := schemes[cfg.Auth]; ok && cfg.SignatureHeader != "" && req.Header.Get(cfg.SignatureHeader) != "" {
		if _, err := s.Verify(cfg, req); err != nil {
			return nil, true, err
		}
	}
	return jsonResponse(map[string]string{"verification": challenge}), true, nil
}

// trelloHandshake answers the HEAD request Trello sends to the callback URL
// when a webhook is created; it must return 200 or creation fails.
// https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#creating-a-webhook
func trelloHandshake(_ *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodHead {
		return nil, false, nil
	}
	return &HandshakeResponse{Status: http.StatusOK, Header: http.Header{}}, true, nil
}
