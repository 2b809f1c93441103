package verify

import (
	"net/http"
	"strconv"
	"strings"
)

// v0Scheme is the "v0" recipe Slack introduced and Zoom copied: the
// signature header is "v0=" + hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")
// with the unix-seconds timestamp in its own header. Only the header names
// differ, so both providers are instances.
//
// Slack: X-Slack-Signature, X-Slack-Request-Timestamp; Slack recommends
// rejecting timestamps older than five minutes.
// https://api.slack.com/authentication/verifying-requests-from-slack
//
// Zoom: x-zm-signature, x-zm-request-timestamp.
// https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
type v0Scheme struct {
	name, sigHeader, tsHeader string
}

const v0Recipe = "HMAC-SHA256(secret, v0:timestamp:body) as hex, prefix v0="

var (
	slack = scheme("slack", v0Scheme{"slack", "X-Slack-Signature", "X-Slack-Request-Timestamp"})
	zoom  = scheme("zoom", v0Scheme{"zoom", "x-zm-signature", "x-zm-request-timestamp"})
)

func (v0Scheme) NeedsSecret() bool          { return true }
func (v0Scheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

func (s v0Scheme) headers(cfg *Config) (sig, ts string) {
	return headerOr(cfg.SignatureHeader, s.sigHeader), headerOr(cfg.TimestampHeader, s.tsHeader)
}

func (s v0Scheme) Verify(cfg *Config, req *Request) (Result, error) {
	sigName, tsName := s.headers(cfg)
	tr := Trace{Scheme: s.name, Header: sigName, Recipe: v0Recipe}
	vals := req.Header.Values(sigName)
	if len(vals) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	ts := strings.TrimSpace(req.Header.Get(tsName))
	if ts == "" {
		tr.Note = tsName + " header missing"
		return fail(ReasonTimestampMissing, tr)
	}
	cands := make([]string, 0, len(vals))
	skipped := 0
	for _, v := range vals {
		sig, ok := strings.CutPrefix(strings.TrimSpace(v), "v0=")
		if !ok {
			skipped++
			continue
		}
		cands = append(cands, sig)
	}
	r := hmacSHA256.collect(cands, skipped, &tr)
	i, reason := hmacSHA256.match(cfg, r, &tr, nil, variant{[]byte("v0:" + ts + ":"), req.Body})
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

func (s v0Scheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	sigName, tsName := s.headers(cfg)
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	sum := hmacSHA256.sum([]byte(secret.Value), []byte("v0:"+ts+":"), req.Body)
	setHeader(req, tsName, ts)
	req.Header.Set(sigName, "v0="+hmacSHA256.encode(sum))
	return nil
}

// slackHandshake answers the Events API url_verification request: a signed
// POST whose JSON body has "type":"url_verification" is answered 200 with
// the challenge as text/plain, after its signature is verified. Ingress
// asks only about requests that verified (HandshakeAfterAuth); the check
// here, for a url_verification only, keeps the function safe on its own.
// https://api.slack.com/events/url_verification
func slackHandshake(cfg *Config, req *Request) (*HandshakeResponse, bool, error) {
	if req.Method != http.MethodPost {
		return nil, false, nil
	}
	if typ, _ := bodyField(req.Body, "type"); typ != "url_verification" {
		return nil, false, nil
	}
	if _, err := slack.Verify(cfg, req); err != nil {
		return nil, true, err
	}
	challenge, _ := bodyField(req.Body, "challenge")
	if challenge == "" || len(challenge) > maxChallenge {
		_, err := fail(ReasonSignatureMalformed, Trace{Scheme: "slack-handshake", Note: "url_verification without a challenge"})
		return nil, true, err
	}
	return textResponse(challenge), true, nil
}

func init() {
	registerPreset(Preset{
		// Events API bodies are JSON ("type": event_callback,
		// "event_id"); slash commands and interactivity are form-encoded
		// and carry neither, so they fall back to the body checksum.
		Type: "slack", Auth: "slack",
		SignatureHeader:    "X-Slack-Signature",
		TimestampHeader:    "X-Slack-Request-Timestamp",
		ReplayWindow:       DefaultReplayWindow, // five minutes, either way
		NonceBody:          "event_id",
		EventType:          "body:type",
		Handshake:          slackHandshake,
		HandshakeMethods:   []string{http.MethodPost},
		HandshakeAfterAuth: true,
		Form:               true,
		Doc:                "https://api.slack.com/authentication/verifying-requests-from-slack",
	})
}
