package verify

import (
	"strings"
	"time"
)

// zendeskScheme is Zendesk webhooks: X-Zendesk-Webhook-Signature is
// base64 HMAC-SHA256(secret, timestamp + body) with the timestamp as sent in
// X-Zendesk-Webhook-Signature-Timestamp (ISO 8601, e.g.
// 2021-03-18T19:25:00Z; unix seconds are accepted too). Bodiless requests
// sign the timestamp alone.
// https://developer.zendesk.com/documentation/webhooks/verifying/
type zendeskScheme struct{}

const (
	zendeskSignature = "X-Zendesk-Webhook-Signature"
	zendeskTimestamp = "X-Zendesk-Webhook-Signature-Timestamp"
	zendeskRecipe    = "HMAC-SHA256(secret, timestamp+body) as base64"
)

var _ = scheme("zendesk", zendeskScheme{})

func (zendeskScheme) NeedsSecret() bool          { return true }
func (zendeskScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (zendeskScheme) Verify(cfg *Config, req *Request) (Result, error) {
	sigName := headerOr(cfg.SignatureHeader, zendeskSignature)
	tsName := headerOr(cfg.TimestampHeader, zendeskTimestamp)
	tr := Trace{Scheme: "zendesk", Header: sigName, Recipe: zendeskRecipe}
	vals := req.Header.Values(sigName)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	ts := req.Header.Get(tsName)
	if ts == "" {
		tr.Note = tsName + " header missing"
		return fail(ReasonTimestampMissing, tr)
	}
	r := b64SHA256.collect(vals, 0, &tr)
	i, reason := b64SHA256.match(cfg, r, &tr, nil, variant{[]byte(ts), req.Body})
	if i < 0 {
		return fail(reason, tr)
	}
	var t time.Time
	if strings.Contains(ts, "T") {
		t, reason = parseRFC3339(ts)
	} else {
		t, reason = parseUnixSeconds(ts)
	}
	if reason == "" {
		reason = checkWindow(cfg, req, t, DefaultReplayWindow, &tr)
	}
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	res.Timestamp = t
	return res, nil
}

func (zendeskScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	ts := clock(req).UTC().Format(time.RFC3339)
	sum := b64SHA256.sum([]byte(secret.Value), []byte(ts), req.Body)
	setHeader(req, headerOr(cfg.TimestampHeader, zendeskTimestamp), ts)
	req.Header.Set(headerOr(cfg.SignatureHeader, zendeskSignature), b64SHA256.encode(sum))
	return nil
}

func init() {
	registerPreset(Preset{
		// x-zendesk-webhook-invocation-id names one delivery attempt of
		// one event; event subscriptions put the event id and type in the
		// body ("id", "type"), trigger webhooks a user-defined body.
		Type: "zendesk", Auth: "zendesk",
		SignatureHeader: zendeskSignature,
		TimestampHeader: zendeskTimestamp,
		NonceBody:       "id",
		EventType:       "body:type",
		Doc:             "https://developer.zendesk.com/documentation/webhooks/verifying/",
	})
}
