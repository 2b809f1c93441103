package verify

import (
	"encoding/hex"
	"net/http"
)

// zoomHandshake answers Zoom's endpoint.url_validation: a signed POST whose
// body is {"event":"endpoint.url_validation","payload":{"plainToken":…}} is
// answered with {"plainToken": …, "encryptedToken": hex HMAC-SHA256(secret,
// plainToken)}, keyed with the secret that verified the request. Ingress
// asks only about requests that verified (HandshakeAfterAuth), so an
// unsigned body is never inspected.
// https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint
func zoomHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodPost {
		return nil, false, nil
	}
	if ev, _ := bodyField(req.Body, "event"); ev != "endpoint.url_validation" {
		return nil, false, nil
	}
	res, err := zoom.Verify(cfg, req)
	if err != nil {
		return nil, true, err
	}
	token, _ := bodyField(req.Body, "payload", "plainToken")
	if token == "" || len(token) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: "zoom-handshake", Note: "url_validation without payload.plainToken"})
		return nil, true, err
	}
	key := ""
	for i, s := range cfg.Secrets {
		if secretID(s, i) == res.SecretID {
			key = s.Value
			break
		}
	}
	sum := hmacSHA256.sum([]byte(key), []byte(token))
	return jsonResponse(map[string]string{"plainToken": token, "encryptedToken": hex.EncodeToString(sum)}), true, nil
}

func init() {
	registerPreset(Preset{
		// Zoom sends no delivery id header; the body has "event" and
		// "event_ts" (milliseconds).
		Type: "zoom", Auth: "zoom",
		SignatureHeader:    "x-zm-signature",
		TimestampHeader:    "x-zm-request-timestamp",
		EventType:          "body:event",
		Handshake:          zoomHandshake,
		HandshakeMethods:   []string{http.MethodPost},
		HandshakeAfterAuth: true,
		Doc:                "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
	})
}
