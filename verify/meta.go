package verify

import "net/http"

// Presets of providers that sign with one of the generic auth types (an HMAC
// of the raw body in one header, or a shared secret) and answer a handshake
// (handshake.go). Each follows the provider's documentation; the comment
// names the quirk that differs from its look-alikes.
func init() {
	for _, p := range []Preset{
		{
			// X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>. The
			// header name is GitHub's SHA-1 one, but Bitbucket Cloud puts the
			// SHA-256 digest in it. X-Request-UUID identifies the delivery,
			// X-Event-Key the event (repo:push, pullrequest:created, …).
			// https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks
			// https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/#HTTP-headers
			Type: "bitbucket", Auth: "sha256",
			SignatureHeader: "X-Hub-Signature",
			NonceHeader:     "X-Request-UUID",
			EventType:       "header:X-Event-Key",
			Doc:             "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
		},
		{
			// Meta (Facebook, Instagram, WhatsApp, Messenger) webhooks:
			// X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret,
			// payload)>. Meta signs the payload as sent, with non-ASCII
			// characters escaped (\u00e4); verifying the raw bytes, as here,
			// needs no re-escaping. Subscriptions are confirmed by a GET
			// carrying hub.mode=subscribe, hub.verify_token and
			// hub.challenge (metaHandshake; verify_token is the connection's
			// VerifyToken). Payloads name their object ("page",
			// "whatsapp_business_account", …) and carry no delivery id.
			// https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
			Type: "meta", Auth: "sha256",
			SignatureHeader:  "X-Hub-Signature-256",
			EventType:        "body:object",
			Handshake:        metaHandshake,
			HandshakeMethods: []string{http.MethodGet},
			Doc:              "https://developers.facebook.com/docs/graph-api/webhooks/getting-started",
		},
		{
			// X-Hook-Signature: hex HMAC-SHA256(secret, body), where the
			// secret is the one Asana handed over in X-Hook-Secret when the
			// webhook was created (asanaHandshake). Such a connection may
			// start with no secret: verify.New then fails closed ("needs at
			// least one secret") and the gateway answers only the handshake
			// until it has learned one (gateway awaitsSecret); deliveries are
			// rejected, never passed. Events carry no delivery id.
			// https://developers.asana.com/docs/webhooks-guide#security
			Type: "asana", Auth: "sha256_raw",
			SignatureHeader: "X-Hook-Signature",
			Handshake:       asanaHandshake,
			Doc:             "https://developers.asana.com/docs/webhooks-guide",
		},
		{
			// X-Dropbox-Signature: hex HMAC-SHA256(app secret, body). The
			// notification only lists changed accounts: no id, no type. The
			// endpoint is verified by a GET ?challenge=… echoed as text/plain
			// (dropboxHandshake).
			// https://www.dropbox.com/developers/reference/webhooks#documentation
			Type: "dropbox", Auth: "sha256_raw",
			SignatureHeader:  "X-Dropbox-Signature",
			Handshake:        dropboxHandshake,
			HandshakeMethods: []string{http.MethodGet},
			Doc:              "https://www.dropbox.com/developers/reference/webhooks",
		},
		{
			// Okta event hooks authenticate with a header the admin
			// configures on the hook (authScheme type HEADER, key
			// "Authorization" by default), whose value is sent verbatim: the
			// "secret" auth type, not a Bearer api_key. signature_header
			// overrides the header name. The one-time verification GET with
			// X-Okta-Verification-Challenge is answered by oktaHandshake,
			// which checks the same header when present. The top-level
			// eventType is always "com.okta.event_hook"; the events
			// themselves are listed in data.events.
			// https://developer.okta.com/docs/concepts/event-hooks/
			Type: "okta", Auth: "secret",
			SignatureHeader:  "Authorization",
			NonceBody:        "eventId",
			EventType:        "body:eventType",
			Handshake:        oktaHandshake,
			HandshakeMethods: []string{http.MethodGet},
			Doc:              "https://developer.okta.com/docs/concepts/event-hooks/",
		},
	} {
		registerPreset(p)
	}
}
