package verify

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// twitchScheme is Twitch EventSub over webhooks: Twitch-Eventsub-Message-
// Signature is "sha256=" + hex HMAC-SHA256(secret, message id + timestamp +
// body), where the id and the RFC 3339 timestamp are the
// Twitch-Eventsub-Message-Id and -Timestamp headers. Twitch says to reject
// messages older than 10 minutes and to dedupe on the message id, which is
// the Result's Nonce.
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message
type twitchScheme struct{}

const (
	twitchID        = "Twitch-Eventsub-Message-Id"
	twitchTimestamp = "Twitch-Eventsub-Message-Timestamp"
	twitchSignature = "Twitch-Eventsub-Message-Signature"
	twitchType      = "Twitch-Eventsub-Message-Type"
	twitchRecipe    = "HMAC-SHA256(secret, id+timestamp+body) as hex, prefix sha256="
	// twitchWindow is Twitch's documented tolerance, used when the
	// connection sets no replay window.
	twitchWindow = 10 * time.Minute
)

var twitch = scheme("twitch", twitchScheme{})

func (twitchScheme) NeedsSecret() bool          { return true }
func (twitchScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (twitchScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "twitch", Header: twitchSignature, Recipe: twitchRecipe}
	vals := req.Header.Values(twitchSignature)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	id := req.Header.Get(twitchID)
	if id == "" {
		tr.Note = twitchID + " header missing"
		return fail(ReasonSignatureMissing, tr)
	}
	ts := req.Header.Get(twitchTimestamp)
	if ts == "" {
		tr.Note = twitchTimestamp + " header missing"
		return fail(ReasonTimestampMissing, tr)
	}
	cands := make([]string, 0, len(vals))
	skipped := 0
	for _, v := range vals {
		sig, ok := strings.CutPrefix(strings.TrimSpace(v), "sha256=")
		if !ok {
			skipped++
			continue
		}
		cands = append(cands, sig)
	}
	r := hmacSHA256.collect(cands, skipped, &tr)
	i, reason := hmacSHA256.match(cfg, r, &tr, nil, variant{[]byte(id), []byte(ts), req.Body})
	if i < 0 {
		return fail(reason, tr)
	}
	t, reason := parseRFC3339(ts)
	if reason == "" {
		reason = checkWindow(cfg, req, t, twitchWindow, &tr)
	}
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	res.Timestamp, res.Nonce = t, id
	return res, nil
}

// Sign sets the id (kept when present, else random), the timestamp and the
// signature, and the message type "notification" unless one is set.
func (twitchScheme) Sign(_ *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	id := req.Header.Get(twitchID)
	if id == "" {
		var b [16]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	ts := clock(req).UTC().Format(time.RFC3339Nano)
	sum := hmacSHA256.sum([]byte(secret.Value), []byte(id), []byte(ts), req.Body)
	req.Header.Set(twitchID, id)
	req.Header.Set(twitchTimestamp, ts)
	req.Header.Set(twitchSignature, "sha256="+hmacSHA256.encode(sum))
	if req.Header.Get(twitchType) == "" {
		req.Header.Set(twitchType, "notification")
	}
	return nil
}

// twitchHandshake answers webhook_callback_verification: a signed POST with
// Twitch-Eventsub-Message-Type: webhook_callback_verification is answered
// 200 text/plain with the body's "challenge", after its signature verifies.
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request
func twitchHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodPost || req.Header.Get(twitchType) != "webhook_callback_verification" {
		return nil, false, nil
	}
	if _, err := twitch.Verify(cfg, req); err != nil {
		return nil, true, err
	}
	challenge, _ := bodyField(req.Body, "challenge")
	if challenge == "" || len(challenge) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: "twitch-handshake", Note: "verification without a challenge"})
		return nil, true, err
	}
	return textResponse(challenge), true, nil
}

func init() {
	registerPreset(Preset{
		Type: "twitch", Auth: "twitch",
		SignatureHeader:  twitchSignature,
		TimestampHeader:  twitchTimestamp,
		ReplayWindow:     twitchWindow,
		NonceHeader:      twitchID,
		EventType:        "header:Twitch-Eventsub-Subscription-Type",
		Handshake:        twitchHandshake,
		HandshakeMethods: []string{http.MethodPost},
		Doc:              "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/",
	})
}
