package admin

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/ingress"
)

// RulesTester tries a delivery against a connection without storing or
// dispatching anything (SPEC §4.4 "Try it offline"); *gateway.Gateway
// implements it.
type RulesTester interface {
	TryConnection(typ, name string, h http.Header, body []byte, u *url.URL, skipVerify bool) (*ingress.Trial, error)
}

// testRequest is the body of POST /api/v1/connections/{type}/{name}/test.
type testRequest struct {
	// Headers are the delivery's headers, one value each.
	Headers map[string]string `json:"headers"`
	// Body is the delivery's body as text; BodyBase64 carries bytes that
	// are not UTF-8 instead.
	Body       *string `json:"body"`
	BodyBase64 *string `json:"body_base64"`
	// URL is the URL the provider calls, for schemes that sign it
	// (default: the connection's public_url, else its path).
	URL string `json:"url"`
	// SkipVerify tries the rules without checking the signature.
	SkipVerify bool `json:"skip_verify"`
}

// testConnection answers what hookgate would do with a delivery: the
// verification, the answer, the receipt's event type, nonce and idempotency
// key, and each route's filter, schema and transformed body. 200 whatever
// the verdict (the verdict is in the answer); 404 for an unknown connection.
func (a *API) testConnection(w http.ResponseWriter, r *http.Request) {
	tester, ok := a.GW.(RulesTester)
	if !ok {
		Error(w, hookgate.Errorf(hookgate.ENotFound, "this server cannot try deliveries"))
		return
	}
	var req testRequest
	if err := decode(w, r, &req); err != nil {
		Error(w, err)
		return
	}
	if (req.Body == nil) == (req.BodyBase64 == nil) {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "give exactly one of body and body_base64"))
		return
	}
	var body []byte
	if req.Body != nil {
		body = []byte(*req.Body)
	} else {
		b, err := base64.StdEncoding.DecodeString(*req.BodyBase64)
		if err != nil {
			Error(w, hookgate.Errorf(hookgate.EInvalid, "body_base64 is not base64: %v", err))
			return
		}
		body = b
	}
	h := http.Header{}
	for k, v := range req.Headers {
		h.Set(k, v)
	}
	var u *url.URL
	if req.URL != "" {
		var err error
		if u, err = url.Parse(req.URL); err != nil || u.Scheme == "" || u.Host == "" {
			Error(w, hookgate.Errorf(hookgate.EInvalid, "url must be an absolute URL"))
			return
		}
	}
	trial, err := tester.TryConnection(r.PathValue("type"), r.PathValue("name"), h, body, u, req.SkipVerify)
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, trial)
}
